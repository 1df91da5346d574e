// Package flow implements FlowService, convoflow's self-hosted Twilio Studio
// for Conversations: the convoflow.flow.v1.FlowService handler (New), the
// Studio webhook that Conversations posts onMessageAdded events to
// (POST /v1/Accounts/{AccountSid}/Flows/{FlowSid}, signed with
// X-Twilio-Signature), Studio's REST API v2 under /v2/ (package
// studioapi, an adapter over the same handler), the web console under
// /console/ (package console, wired in Run), `flowservice render-flow`
// (RenderFlow), the one mapping of domain errors to connect codes
// (errors.go), the configuration (config.go) and the program itself (Run),
// which cmd/flowservice wraps.
//
// The handler keeps no state of its own. Flows, revisions, executions and
// steps are read from and written to the store (services/flow/store);
// everything that runs a flow goes through the runner
// (services/flow/runner), whose engine also validates definitions. See
// README.md for flags, the webhook's answers and the error table.
package flow
