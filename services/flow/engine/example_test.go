package engine_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/convoflow/convoflow/services/flow/engine"
)

// printer is a Messenger that prints what it sends.
type printer struct{}

func (printer) Send(ctx context.Context, m engine.OutboundMessage) (engine.SentMessage, error) {
	fmt.Printf("send to %s (key %s): %s\n", m.ConversationSid, m.IdempotencyKey, m.Body)
	return engine.SentMessage{Sid: "IM00000000000000000000000000000001", Status: "sent", Body: m.Body, ConversationSid: m.ConversationSid, Author: "system"}, nil
}

// function answers every call as the add-support-agent Function would.
type function struct{}

func (function) Do(ctx context.Context, r *engine.HTTPRequest) (*engine.HTTPResponse, error) {
	fmt.Printf("%s %s %s\n", r.Method, r.URL, r.Body)
	return &engine.HTTPResponse{StatusCode: 200, Header: map[string][]string{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"agent":"Ann"}`))}, nil
}

// sequence mints SIDs counting from 1.
type sequence struct{ n int }

func (s *sequence) NewSID(prefix string) string { s.n++; return fmt.Sprintf("%s%032x", prefix, s.n) }

const flow = `{
  "description": "ask, call a function, answer",
  "initial_state": "Trigger",
  "flags": {"allow_concurrent_calls": true},
  "states": [
    {"name": "Trigger", "type": "trigger", "properties": {"offset": {"x": 0, "y": 0}},
     "transitions": [{"event": "incomingConversationMessage", "next": "ask"}]},
    {"name": "ask", "type": "send-and-wait-for-reply",
     "properties": {"body": "Need an agent?", "timeout": "600"},
     "transitions": [{"event": "incomingMessage", "next": "check"}, {"event": "timeout"}, {"event": "deliveryFailure"}]},
    {"name": "check", "type": "split-based-on", "properties": {"input": "{{widgets.ask.inbound.Body}}"},
     "transitions": [{"event": "noMatch"}, {"event": "match", "next": "add", "conditions": [
       {"friendly_name": "yes", "arguments": ["{{widgets.ask.inbound.Body}}"], "type": "matches_any_of", "value": "yes,y"}]}]},
    {"name": "add", "type": "run-function",
     "properties": {"url": "https://example.twil.io/add", "parameters": [{"key": "conversation", "value": "{{flow.channel.address}}"}]},
     "transitions": [{"event": "success", "next": "done"}, {"event": "fail"}]},
    {"name": "done", "type": "send-message", "properties": {"body": "{{widgets.add.parsed.agent}} will help you."},
     "transitions": [{"event": "sent"}, {"event": "failed"}]}
  ]
}`

// Example shows FlowService's cycle: Start, persist the execution, Resume
// it with the reply, persist again.
func Example() {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	e, err := engine.New(engine.Options{
		Clock:     engine.ClockFunc(func() time.Time { return now }),
		IDs:       &sequence{},
		Messenger: printer{},
		HTTP:      function{},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	def, err := e.Read(ctx, []byte(flow))
	if err != nil {
		panic(err)
	}
	msg := func(body string) *engine.ConversationMessage {
		return &engine.ConversationMessage{ConversationSid: "CH00000000000000000000000000000001", Author: "+15550001111", Body: body}
	}
	res, err := e.Start(ctx, def, &engine.Trigger{FlowSid: "FW00000000000000000000000000000001",
		Event: engine.EventIncomingConversationMessage, Conversation: msg("hello")})
	if err != nil {
		panic(err)
	}
	fmt.Printf("waits in %s until %s\n", res.Wait.Widget, res.Wait.Until.Format(time.TimeOnly))
	// FlowService stores res.Execution as JSON here, and loads it back when
	// the reply arrives.
	res, err = e.Resume(ctx, def, res.Execution, engine.Resume{Kind: engine.ResumeReply, Conversation: msg("Yes")})
	if err != nil {
		panic(err)
	}
	for _, s := range res.Steps {
		fmt.Printf("step %d %s: %s -> %s\n", s.Number, s.Name, s.TransitionedFrom, s.TransitionedTo)
	}
	fmt.Println(res.Execution.Status, res.Execution.EndedReason)
	// Output:
	// send to CH00000000000000000000000000000001 (key FN00000000000000000000000000000001/2): Need an agent?
	// waits in ask until 09:10:00
	// POST https://example.twil.io/add conversation=CH00000000000000000000000000000001
	// send to CH00000000000000000000000000000001 (key FN00000000000000000000000000000001/5): Ann will help you.
	// step 2 incomingMessage: ask -> check
	// step 3 match: check -> add
	// step 4 success: add -> done
	// step 5 sent: done -> Ended
	// ended FLOW_END
}
