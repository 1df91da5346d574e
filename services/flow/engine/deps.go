package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"time"
)

// Clock gives the engine the current time (step dates, wait deadlines,
// Liquid's "now"). Tests use a fixed or stepping clock.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// IDGen mints SIDs: prefix ("FN" for executions, "FT" for steps) followed
// by 32 lower-case hex digits.
type IDGen interface {
	NewSID(prefix string) string
}

// isSID reports whether sid is prefix followed by 32 hex digits.
func isSID(prefix, sid string) bool {
	if len(sid) != len(prefix)+32 || !strings.HasPrefix(sid, prefix) {
		return false
	}
	_, err := hex.DecodeString(sid[len(prefix):])
	return err == nil
}

// RandomIDs mints SIDs from crypto/rand.
type RandomIDs struct{}

// NewSID returns prefix + 32 random hex digits.
func (RandomIDs) NewSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + hex.EncodeToString(b[:])
}

// Messenger sends the messages of send-message and send-and-wait-for-reply.
// An error takes the widget's failure event (failed / deliveryFailure) with
// code 81011, unless the engine's context is done, in which case the whole
// Start/Resume returns the error.
type Messenger interface {
	Send(ctx context.Context, m OutboundMessage) (SentMessage, error)
}

// OutboundMessage is one message a widget sends.
type OutboundMessage struct {
	// IdempotencyKey is deterministic per send: "<execution SID>/<step
	// number>" (the number of the step the widget's run will record). A
	// crash between the send and persisting the new state replays the same
	// key, so the Messenger can drop the duplicate.
	IdempotencyKey string
	ExecutionSid   string
	FlowSid        string
	Widget         string // the widget's name
	// ConversationSid is set when the execution runs in a conversation: the
	// message is posted into it and From/To are informative only
	// (studio.md §7.5). Otherwise the message goes From → To.
	ConversationSid string
	From            string
	To              string
	Body            string
	MediaURL        string
	Attributes      string // a JSON string, as the widget's property
	// ContentSid and ContentVariables are a content template (message_type
	// "content_template"), rendered.
	ContentSid       string
	ContentVariables map[string]string
	// Service and Channel are the legacy Chat properties, rendered.
	Service string
	Channel string
}

// SentMessage is what the Messenger reports back; it fills
// widgets.NAME.outbound.*.
type SentMessage struct {
	Sid    string // SM… or IM…
	Status string // e.g. "sent", "queued"
	From   string
	To     string
	Body   string
	// Conversation fields, used when the message went into a conversation.
	ConversationSid string
	Author          string
	Index           int
	Attributes      string
	Media           string // JSON array string, "" for none
	ParticipantSid  string
}

// HTTPDoer performs run-function and make-http-request calls. The engine
// gives each call a context with a HTTPTimeout deadline and reads at most
// MaxResponseBytes+1 bytes of the body, then closes it; the doer follows
// redirects and, for TwilioAuth, adds the account's credentials.
// An error (connection refused, deadline) takes the widget's failure event
// unless the engine's own context is done.
type HTTPDoer interface {
	Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error)
}

// HTTPRequest is an outgoing call.
type HTTPRequest struct {
	Method string // GET or POST
	URL    string
	// Header holds canonical header names (Content-Type).
	Header map[string][]string
	Body   []byte
	// Widget names the widget making the call and FunctionSid is
	// run-function's function_sid: they let the doer route Function calls
	// whose URL is a placeholder or empty in an imported export.
	Widget      string
	FunctionSid string
	// TwilioAuth asks the doer to authenticate with the account's
	// credentials. The engine sets it only for Twilio hosts.
	TwilioAuth bool
	// TwilioSignature asks the doer to sign the request with
	// X-Twilio-Signature, as Twilio signs its calls to protected Functions;
	// run-function sets it.
	TwilioSignature bool
	// IdempotencyKey is deterministic per call, as OutboundMessage's is:
	// a replay after a crash repeats the call with the same key, so the
	// receiver can recognise the repeat (calls are made at least once).
	IdempotencyKey string
}

// HTTPResponse is the answer. Header keys may be in any case.
type HTTPResponse struct {
	StatusCode int
	Header     map[string][]string
	Body       io.ReadCloser
}

// SubflowResolver loads the definition run-subflow names. revision is the
// widget's flow_revision: "LatestPublished", "LatestRevision", "LatestDraft"
// or a number. The answer's Revision is the concrete revision, which the
// execution keeps so that a resume after a wait inside the subflow loads
// the same one. Unknown flows or revisions return ErrSubflowNotFound.
type SubflowResolver interface {
	ResolveSubflow(ctx context.Context, flowSid, revision string) (*Subflow, error)
}

// Subflow is a resolved subflow definition.
type Subflow struct {
	Definition *Definition
	Revision   int
}

// FlexHandoff creates a Flex task for send-to-flex. Without one the widget
// takes failedToEnqueue: convoflow has no Flex.
type FlexHandoff interface {
	Handoff(ctx context.Context, r FlexRequest) (FlexTask, error)
}

// FlexRequest is a rendered send-to-flex.
type FlexRequest struct {
	IdempotencyKey  string
	ExecutionSid    string
	FlowSid         string
	ConversationSid string
	Workflow        string
	Channel         string
	Attributes      string
	Priority        string
	Timeout         string
}

// FlexTask is the created task; it fills widgets.NAME.{TaskSid, Attributes, Age}.
type FlexTask struct {
	TaskSid    string
	Attributes string
	Age        int
}
