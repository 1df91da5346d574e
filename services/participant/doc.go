// Package participant implements ParticipantService: it adds, reads,
// updates and removes Twilio Conversations participants through the
// official twilio-go SDK, routes conversations to support agents from a
// roster with capacity, and serves Studio Run Function endpoints that stand
// in for the tutorial's Twilio Function.
//
// [New] returns the connect handler; [FunctionRoutes] the HTTP endpoints;
// [Main] and [Run] are the program that cmd/participantservice and the
// tests start. errors.go holds the one mapping of the service's and
// Twilio's errors to connect codes, retry.go the retry policy for
// Conversations API calls.
package participant
