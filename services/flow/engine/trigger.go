package engine

import (
	"encoding/json"
	"fmt"
	"time"
)

// Trigger events (the trigger widget's transitions).
const (
	EventIncomingConversationMessage = "incomingConversationMessage"
	EventIncomingMessage             = "incomingMessage"
	EventIncomingRequest             = "incomingRequest"
	EventIncomingParent              = "incomingParent"
	EventIncomingCall                = "incomingCall"
)

// Trigger starts an execution. Exactly one of Conversation, Message and
// Request is set, matching Event.
type Trigger struct {
	// FlowSid and FlowRevision identify the flow being run.
	FlowSid      string
	FlowRevision int
	// ExecutionSid names the new execution ("FN" and 32 hex digits); empty
	// mints one with Options.IDs. A caller that may have to start the same
	// execution again, replaying an event after a crash, chooses it, so
	// that what is keyed on it (send idempotency keys) comes out the same.
	ExecutionSid string
	// Event is EventIncomingConversationMessage, EventIncomingMessage or
	// EventIncomingRequest. incomingCall loads but cannot start here, and
	// incomingParent is the engine's own (run-subflow).
	Event string
	// Conversation is the message that started a conversation execution.
	Conversation *ConversationMessage
	// Message holds the Programmable Messaging webhook parameters of an
	// incomingMessage (Body, From, To, MessageSid, NumMedia, MediaUrl0, …).
	Message map[string]string
	// Request is a REST-created execution.
	Request *Request
	// FlowAddress and ContactAddress override flow.channel.address and
	// contact.channel.address. By default: for a conversation the
	// ConversationSid and the Author (FlowService passes the participant's
	// proxy_address as FlowAddress when it has one, studio.md §3.6); for a
	// message To and From; for a request From and To.
	FlowAddress    string
	ContactAddress string
}

// ConversationMessage is an onMessageAdded event of a conversation. It
// fills trigger.conversation.* (and, for a reply, widgets.NAME.inbound.*)
// with the project's union of keys (studio.md §3.1, §7.4).
type ConversationMessage struct {
	AccountSid          string
	ConversationSid     string
	MessageSid          string
	MessagingServiceSid string
	ParticipantSid      string
	Author              string
	Body                string
	// Attributes is the message attributes, a JSON string (not parsed).
	Attributes string
	// ChannelAttributes is the conversation's attributes, parsed.
	ChannelAttributes map[string]any
	Source            string
	Index             int
	// Media is the message's media as a JSON array string, "" for none.
	Media       string
	DateCreated time.Time
}

// Request is a REST execution: POST /v2/Flows/{FlowSid}/Executions.
type Request struct {
	From string
	To   string
	// Parameters is the decoded Parameters JSON; it becomes flow.data.
	Parameters map[string]any
}

func (m *ConversationMessage) triggerFields() map[string]any {
	attrs := m.ChannelAttributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	return map[string]any{
		"AccountSid":          m.AccountSid,
		"Body":                m.Body,
		"ChannelSid":          m.ConversationSid,
		"ConversationSid":     m.ConversationSid,
		"DateCreated":         formatTime(m.DateCreated),
		"From":                m.Author,
		"MessageSid":          m.MessageSid,
		"MessagingServiceSid": m.MessagingServiceSid,
		"Author":              m.Author,
		"ParticipantSid":      m.ParticipantSid,
		"Attributes":          m.Attributes,
		"ChannelAttributes":   copyJSON(attrs),
		"Source":              m.Source,
		"Index":               int64(m.Index),
		"Media":               m.Media,
	}
}

func (m *ConversationMessage) inboundFields() map[string]any {
	return map[string]any{
		"Body":            m.Body,
		"From":            m.Author,
		"MessageSid":      m.MessageSid,
		"Author":          m.Author,
		"ParticipantSid":  m.ParticipantSid,
		"Index":           int64(m.Index),
		"DateCreated":     formatTime(m.DateCreated),
		"Attributes":      m.Attributes,
		"Media":           m.Media,
		"ConversationSid": m.ConversationSid,
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// copyJSON deep-copies a JSON-shaped map through encoding, so the
// execution never aliases a caller's map and numbers get the engine's
// types (int64 or float64). A value JSON cannot hold gives an empty map.
func copyJSON(v map[string]any) map[string]any {
	if len(v) == 0 {
		return map[string]any{} // most messages have no channel attributes
	}
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{}
	}
	if out, ok := decodeJSON(b); ok {
		if m, ok := out.(map[string]any); ok {
			return m
		}
	}
	return map[string]any{}
}

// newContext builds the context of a new execution from its trigger.
func newContext(t *Trigger, execSid string) (Context, string, error) {
	c := Context{
		Trigger: map[string]any{},
		Flow:    FlowContext{FlowSid: t.FlowSid, Sid: execSid, Data: map[string]any{}, Variables: map[string]any{}},
		Widgets: map[string]any{},
	}
	var conversation string
	switch t.Event {
	case EventIncomingConversationMessage:
		if t.Conversation == nil {
			return c, "", fmt.Errorf("trigger %s needs Conversation", t.Event)
		}
		c.Trigger["conversation"] = t.Conversation.triggerFields()
		c.Flow.Channel.Address = t.Conversation.ConversationSid
		c.Contact.Channel.Address = t.Conversation.Author
		conversation = t.Conversation.ConversationSid
	case EventIncomingMessage:
		if t.Message == nil {
			return c, "", fmt.Errorf("trigger %s needs Message", t.Event)
		}
		c.Trigger["message"] = stringMap(t.Message)
		c.Flow.Channel.Address = t.Message["To"]
		c.Contact.Channel.Address = t.Message["From"]
	case EventIncomingRequest:
		if t.Request == nil {
			return c, "", fmt.Errorf("trigger %s needs Request", t.Event)
		}
		params := copyJSON(t.Request.Parameters)
		// [AI] lists trigger.request.{from,to,parameters}; the docs only
		// flow.data. Both are filled (studio.md §3.4).
		c.Trigger["request"] = map[string]any{"from": t.Request.From, "to": t.Request.To, "parameters": params}
		c.Flow.Data = copyJSON(t.Request.Parameters)
		c.Flow.Channel.Address = t.Request.From
		c.Contact.Channel.Address = t.Request.To
	default:
		return c, "", fmt.Errorf("trigger event %q cannot start an execution", t.Event)
	}
	if t.FlowAddress != "" {
		c.Flow.Channel.Address = t.FlowAddress
	}
	if t.ContactAddress != "" {
		c.Contact.Channel.Address = t.ContactAddress
	}
	return c, conversation, nil
}

// Resume kinds.
const (
	ResumeReply   = "reply"
	ResumeTimeout = "timeout"
)

// Resume is an event for a waiting execution: a reply or a timeout.
// (A subflow's return is not a Resume: subflows run inside the same
// execution and return to the parent as soon as they end.)
type Resume struct {
	Kind string
	// Widget, when set, must name the waiting widget; a mismatch gives
	// ErrNotWaiting. FlowService sets it on timers so a stale timer of an
	// earlier wait is refused.
	Widget string
	// Conversation is a reply in a conversation (fills inbound.* per
	// studio.md §7.4); Message is a reply over Programmable Messaging
	// (inbound.* = the webhook parameters).
	Conversation *ConversationMessage
	Message      map[string]string
}
