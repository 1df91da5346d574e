// Package engine runs Twilio Studio flow definitions, exported from the
// Studio Console and loaded unchanged, against Twilio Conversations. It is
// pure: no database, no network, no globals beyond read-only tables. Time,
// SIDs, sending messages, HTTP calls, subflow definitions and a Flex
// hand-off are injected (Options), so a run is deterministic under test and
// FlowService owns persistence and I/O. The behaviour it reproduces, and
// the project decisions where Twilio is silent, are in
// shared/reference/studio.md; decisions this package adds are listed below.
package engine
