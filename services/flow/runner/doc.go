// Package runner is FlowService's durable execution runtime. It drives the
// engine (services/flow/engine) with persistence (services/flow/store) and
// real I/O: the Conversations API through twilio-go for send-message,
// net/http with --function-map rewrites for run-function and
// make-http-request, and the store for run-subflow definitions.
//
// # Events
//
// HandleConversationEvent records an onMessageAdded event in the store and
// returns once the record is committed (QUEUED), so an acknowledged event is
// never lost. Redeliveries (same I-Twilio-Idempotency-Token, or same
// MessageSid, for the flow) are DUPLICATE and change nothing. The engine's
// own posts (Author = Config.MessageAuthor and Source = "API") are IGNORED.
//
// Each conversation has one worker per process, and a store lease makes it
// one across replicas: the worker takes the oldest pending event, runs it,
// and commits the engine's Result together with the event's outcome in one
// transaction (execution state, steps, timers, event done, and a renewal of
// the lease, so a replica that lost its lease cannot commit). An event
// stays at the head of its queue until that commit, so events of a
// conversation are processed strictly in arrival order and a crash retries
// the event that was running. On Start, and every few seconds, the runner
// looks for conversations with pending events and no worker (after a
// restart, or a replica that died and whose lease expired).
//
// An event for a conversation without an active execution of the flow starts
// one at incomingConversationMessage on the flow's latest published revision,
// with trigger.conversation filled from the event; ChannelAttributes (the
// conversation's attributes) and flow.channel.address (the participant's
// proxy address) are fetched from the Conversations API only when the
// definition mentions them, and left out, with a warning, when that fails.
// An event for an execution waiting in send-and-wait-for-reply resumes it,
// whichever participant wrote. An execution keeps the revision it started
// on.
//
// # Side effects exactly once per replay
//
// A processing attempt that fails for an infrastructure reason commits
// nothing and is replayed. The engine keys every send "<execution SID>/<step
// number>", deterministic for a replay from the same stored state; the
// runner makes the SID of an execution started by an event deterministic too
// (derived from the event), and appends the cause of the attempt (event or
// timer, and the execution version it started from) so different attempts
// never share keys. Before sending, the key is looked up in the store; after
// sending, the result is recorded at once in its own transaction (with the
// execution row, for a new execution's first send), because a record made
// only with the steps would be lost by exactly the crash it guards against.
// A crash between the API's answer and that record (milliseconds) can still
// repeat a message: the Conversations API offers no idempotency key.
// run-function and make-http-request calls are not deduplicated: they are
// repeated on replay, as Studio's own retries do.
//
// # Timers
//
// A wait arms a wait_timeout timer at the wait's deadline; a new execution
// arms a LIFETIME timer at engine.ExecutionLifetime. Every TimerInterval the
// runner claims due timers (a claim expires, so a timer claimed by a replica
// that died fires elsewhere) and fires them: a timeout resumes the execution
// with the widget it was armed for, so a timer of an earlier wait is refused
// by the engine and deleted; LIFETIME ends the execution.
//
// # Messages outside a conversation
//
// See TwilioMessenger: the Conversations API cannot send a plain SMS, so a
// REST execution's message goes into an open conversation the contact takes
// part in, and fails (the widget's failure path, 81011) when there is none.
//
// A Conversations API failure is a widget failure (the engine follows
// failed / deliveryFailure), never a lost or stuck event.
package runner
