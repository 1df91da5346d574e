// Package studioapi serves Twilio Studio's REST API v2 (/v2/Flows…, as
// ../shared/specs/twilio_studio_v2.json specifies it) on FlowService's
// port, so that twilio-go's StudioV2 client, the Twilio CLI and scripts
// written against studio.twilio.com manage convoflow unchanged.
//
// It is a thin adapter and holds no logic of its own: every handler turns
// Twilio's form-encoded request into the FlowService request, calls the
// same flowv1connect.FlowServiceHandler the gRPC API serves, and renders
// the answer as Twilio does (snake_case JSON, ISO 8601 dates, absolute url
// and links under the public URL, meta paging). Validation, revisions and
// execution rules are the service's; errors.go is the one place where its
// connect errors become Twilio's {code, message, more_info, status}
// bodies. routes.go declares every route once.
//
// Callers authenticate as Twilio checks them: HTTP basic auth with the
// account SID and auth token. When FlowService has API keys, a key sent as
// "Authorization: Bearer KEY" is accepted too.
package studioapi
