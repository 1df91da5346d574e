//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/convoflow/convoflow/fakes/conversations/fakeclient"
	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
)

const (
	added   = "Added support agent"
	apology = "Sorry, no support agent is available right now. Please try again in a few minutes."
)

// agentAddresses reads the roster's agents from ParticipantService.
func (s *stack) agentAddresses(t *testing.T) map[string]string {
	t.Helper()
	res, err := s.participantClient(t).ListAgents(t.Context(), &participantv1.ListAgentsRequest{})
	if err != nil {
		t.Fatalf("list agents: %v", err)
	}
	out := map[string]string{}
	for _, a := range res.GetAgents() {
		out[a.GetAddress()] = a.GetName()
	}
	return out
}

// (a) The tutorial as `make demo` plays it.
func TestTutorial(t *testing.T) {
	s := startStack(t)
	flowSid := s.publishDemo(t)
	agents := s.agentAddresses(t)
	customer := newCustomer()

	conv := s.text(t, customer, twilioNumber, "hello")
	s.waitEnded(t, flowSid, conv, 1)
	if msgs, _ := s.fakeClient(t).Outbox(t.Context(), "", conv); len(msgs) != 0 {
		t.Fatalf("\"hello\" got a reply: %v", describe(msgs))
	}

	if got := s.text(t, customer, twilioNumber, "support"); got != conv {
		t.Fatalf("\"support\" went to %s, not the customer's conversation %s", got, conv)
	}
	var agent string
	msgs := s.waitOutbox(t, conv, added+" to the customer and an agent", func(m []fakeclient.OutboundMessage) bool {
		agent = ""
		for _, x := range m {
			if _, isAgent := agents[x.To]; isAgent && x.Body == added {
				agent = x.To
			}
		}
		return delivered(m, customer, added) && agent != ""
	})
	if n := count(msgs, customer, added); n != 1 {
		t.Fatalf("the customer got %q %d times", added, n)
	}
	ended := s.waitEnded(t, flowSid, conv, 2)
	var support string
	for _, e := range ended {
		if s.hasStepTo(t, flowSid, e.GetSid(), "support-confirmation-message") {
			support = e.GetSid()
		}
	}
	want := []string{
		"Trigger -incomingConversationMessage-> check-support",
		"check-support -match-> add-support-agent",
		"add-support-agent -success-> support-confirmation-message",
		"support-confirmation-message -sent-> Ended",
	}
	if got := s.steps(t, flowSid, support); !slices.Equal(got, want) {
		t.Fatalf("steps = %q, want %q", got, want)
	}

	const followUp = "My order has not arrived"
	s.text(t, customer, twilioNumber, followUp)
	s.waitOutbox(t, conv, "the follow-up at the agent", func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, agent, followUp)
	})
}

// (b) ParticipantService down: the Run Function fails, the flow apologises,
// nothing hangs; back up, the next "support" works.
func TestParticipantServiceDown(t *testing.T) {
	s := startStack(t)
	flowSid := s.publishDemo(t)
	customer := newCustomer()

	s.participant.Stop(t)
	conv := s.text(t, customer, twilioNumber, "support")
	s.waitOutbox(t, conv, "the apology", func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, customer, apology)
	})
	ended := s.waitEnded(t, flowSid, conv, 1)
	if steps := s.steps(t, flowSid, ended[0].GetSid()); !slices.Contains(steps, "add-support-agent -fail-> support-unavailable-message") {
		t.Fatalf("steps = %q, want the fail branch", steps)
	}

	s.participant.Start(t)
	s.text(t, customer, twilioNumber, "support")
	s.waitOutbox(t, conv, added, func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, customer, added)
	})
}

// surveyFlow asks for a rating and waits for the reply: "long" waits an hour,
// anything else 3 seconds.
const surveyFlow = `{
  "description": "e2e: send-and-wait across a FlowService restart",
  "initial_state": "Trigger",
  "flags": {"allow_concurrent_calls": true},
  "states": [
    {"name": "Trigger", "type": "trigger", "properties": {"offset": {"x": 0, "y": 0}},
     "transitions": [{"event": "incomingMessage"}, {"event": "incomingCall"}, {"event": "incomingRequest"},
       {"event": "incomingParent"}, {"event": "incomingConversationMessage", "next": "which"}]},
    {"name": "which", "type": "split-based-on", "properties": {"input": "{{trigger.conversation.Body}}"},
     "transitions": [{"event": "noMatch", "next": "ask_short"},
       {"event": "match", "next": "ask_long", "conditions": [{"friendly_name": "long", "arguments": ["{{trigger.conversation.Body}}"], "type": "equal_to", "value": "long"}]}]},
    {"name": "ask_long", "type": "send-and-wait-for-reply",
     "properties": {"from": "{{flow.channel.address}}", "body": "Rate us from 1 to 5", "timeout": "3600"},
     "transitions": [{"event": "incomingMessage", "next": "thanks"}, {"event": "timeout", "next": "nudge"}, {"event": "deliveryFailure"}]},
    {"name": "ask_short", "type": "send-and-wait-for-reply",
     "properties": {"from": "{{flow.channel.address}}", "body": "Rate us from 1 to 5, quickly", "timeout": "3"},
     "transitions": [{"event": "incomingMessage", "next": "thanks"}, {"event": "timeout", "next": "nudge"}, {"event": "deliveryFailure"}]},
    {"name": "thanks", "type": "send-message",
     "properties": {"from": "{{flow.channel.address}}", "to": "{{contact.channel.address}}", "body": "Thanks for rating us {{widgets.ask_long.inbound.Body}}"},
     "transitions": [{"event": "sent"}, {"event": "failed"}]},
    {"name": "nudge", "type": "send-message",
     "properties": {"from": "{{flow.channel.address}}", "to": "{{contact.channel.address}}", "body": "We did not hear back"},
     "transitions": [{"event": "sent"}, {"event": "failed"}]}
  ]
}`

// (c) FlowService stopped while executions wait: after it starts again on
// the same volume a reply resumes one, and the other's timeout still fires.
func TestFlowServiceRestart(t *testing.T) {
	s := startStack(t)
	var def map[string]any
	if err := json.Unmarshal([]byte(surveyFlow), &def); err != nil {
		t.Fatal(err)
	}
	st, err := structpb.NewStruct(def)
	if err != nil {
		t.Fatal(err)
	}
	const surveyNumber = "+15005550200"
	s.publish(t, "Survey", st, surveyNumber)
	patient, hasty := newCustomer(), newCustomer()
	convLong := s.text(t, patient, surveyNumber, "long")
	convShort := s.text(t, hasty, surveyNumber, "short")
	s.waitOutbox(t, convLong, "the long question", func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, patient, "Rate us from 1 to 5")
	})
	s.waitOutbox(t, convShort, "the short question", func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, hasty, "Rate us from 1 to 5, quickly")
	})

	s.flow.Stop(t)
	time.Sleep(3 * time.Second) // the short wait's deadline passes while FlowService is down
	s.flow.Start(t)

	s.waitOutbox(t, convShort, "the timeout's nudge", func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, hasty, "We did not hear back")
	})
	s.text(t, patient, surveyNumber, "5")
	s.waitOutbox(t, convLong, "the thanks", func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, patient, "Thanks for rating us 5")
	})
}

// (d) The fake answers 500, then 429, to message creation: FlowService's
// message still reaches the customer exactly once.
func TestMessageCreateFaults(t *testing.T) {
	s := startStack(t)
	s.publishDemo(t)
	customer := newCustomer()
	fc := s.fakeClient(t)
	for _, f := range []fakeclient.Fault{
		{Method: "POST", Path: "/v1/Conversations/*/Messages", Status: 500, Code: 20500, Message: "Internal Server Error", Count: 1},
		{Method: "POST", Path: "/v1/Conversations/*/Messages", Status: 429, Code: 20429, Message: "Too Many Requests", Count: 1},
	} {
		if err := fc.InjectFault(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	conv := s.text(t, customer, twilioNumber, "support")
	msgs := s.waitOutbox(t, conv, added, func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, customer, added)
	})
	time.Sleep(2 * time.Second) // room for a duplicate to show up
	msgs, err := fc.Outbox(t.Context(), customer, conv)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(msgs, customer, added); n != 1 {
		t.Fatalf("%q reached the customer %d times, want exactly once: %v", added, n, describe(msgs))
	}
}

// (e) A webhook with a forged signature gets 403 and starts nothing.
func TestForgedWebhook(t *testing.T) {
	s := startStack(t)
	flowSid := s.publishDemo(t)
	conv := "CH" + strings.Repeat("ab", 16)
	form := url.Values{
		"EventType": {"onMessageAdded"}, "AccountSid": {accountSid}, "ConversationSid": {conv},
		"MessageSid": {"IM" + strings.Repeat("cd", 16)}, "Author": {"+15005559999"}, "Body": {"support"},
		"Index": {"0"}, "Source": {"SMS"}, "DateCreated": {time.Now().UTC().Format(time.RFC3339)},
	}
	target := s.flow.URL(t) + "/v1/Accounts/" + accountSid + "/Flows/" + flowSid
	for name, sig := range map[string]string{"forged": "bm90IGEgc2lnbmF0dXJl", "missing": ""} {
		if status, _ := postSigned(t, target, form, sig); status != http.StatusForbidden {
			t.Fatalf("%s signature: status %d, want 403", name, status)
		}
	}
	if ex := s.executions(t, flowSid, conv); len(ex) != 0 {
		t.Fatalf("a forged webhook started %d executions", len(ex))
	}
}

// holdFlow tells the customer to hold on, calls the tutorial's Function and
// confirms: a reply sent before the Function call and one after it.
const holdFlow = `{
  "description": "e2e: a reply, a Function call, a reply, across a replica's death",
  "initial_state": "Trigger",
  "flags": {"allow_concurrent_calls": true},
  "states": [
    {"name": "Trigger", "type": "trigger", "properties": {"offset": {"x": 0, "y": 0}},
     "transitions": [{"event": "incomingMessage"}, {"event": "incomingCall"}, {"event": "incomingRequest"},
       {"event": "incomingParent"}, {"event": "incomingConversationMessage", "next": "hold"}]},
    {"name": "hold", "type": "send-message",
     "properties": {"from": "{{flow.channel.address}}", "to": "{{contact.channel.address}}", "body": "One moment, finding you an agent"},
     "transitions": [{"event": "sent", "next": "add-support-agent"}, {"event": "failed"}]},
    {"name": "add-support-agent", "type": "run-function",
     "properties": {"service_sid": "ZS00000000000000000000000000000001", "environment_sid": "ZE00000000000000000000000000000001",
       "function_sid": "ZH00000000000000000000000000000001", "url": "https://support-1234-dev.twil.io/add-support-agent",
       "parameters": [{"key": "conversationID", "value": "{{trigger.conversation.ConversationSid}}"}]},
     "transitions": [{"event": "success", "next": "confirm"}, {"event": "fail", "next": "sorry"}]},
    {"name": "confirm", "type": "send-message",
     "properties": {"from": "{{flow.channel.address}}", "to": "{{contact.channel.address}}", "body": "Added support agent"},
     "transitions": [{"event": "sent"}, {"event": "failed"}]},
    {"name": "sorry", "type": "send-message",
     "properties": {"from": "{{flow.channel.address}}", "to": "{{contact.channel.address}}",
       "body": "Sorry, no support agent is available right now. Please try again in a few minutes."},
     "transitions": [{"event": "sent"}, {"event": "failed"}]}
  ]
}`

// (f) Two FlowService replicas on one PostgreSQL. Replica B, which the
// webhooks reach, sends the first reply and is inside the Run Function
// call (ParticipantService is paused, so the call hangs) when it is
// killed with SIGKILL. Replica A takes the conversation over once B's
// lease runs out, and the customer gets each reply exactly once: the one B
// sent before dying is not sent again, and the confirmation comes from A.
func TestReplicaKilledMidConversation(t *testing.T) {
	s := startReplicaStack(t)
	var def map[string]any
	if err := json.Unmarshal([]byte(holdFlow), &def); err != nil {
		t.Fatal(err)
	}
	st, err := structpb.NewStruct(def)
	if err != nil {
		t.Fatal(err)
	}
	flowSid := s.publish(t, "Hold on", st, twilioNumber)
	agents := s.agentAddresses(t)
	customer := newCustomer()
	const hold = "One moment, finding you an agent"

	s.participant.Pause(t)
	conv := s.text(t, customer, twilioNumber, "support")
	s.waitOutbox(t, conv, "the first reply, from B", func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, customer, hold)
	})
	// B has sent the first reply and moved on to the Function call, which
	// now hangs on the paused ParticipantService.
	s.flowB.Kill(t)
	killed := time.Now()
	s.participant.Unpause(t)

	s.waitOutbox(t, conv, added+" from A", func(m []fakeclient.OutboundMessage) bool {
		return delivered(m, customer, added)
	})
	took := time.Since(killed)
	// Read the outbox again once the execution has ended: a duplicate
	// would have been sent by then.
	ended := s.waitEnded(t, flowSid, conv, 1)
	msgs, err := s.fakeClient(t).Outbox(t.Context(), "", conv)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("B killed; A's confirmation %s later; outbox: %q", took.Round(time.Millisecond), describe(msgs))
	for _, body := range []string{hold, added} {
		if n := count(msgs, customer, body); n != 1 {
			t.Errorf("the customer got %q %d times, want once", body, n)
		}
	}
	if n := count(msgs, customer, apology); n != 0 {
		t.Errorf("the customer got the apology: the Function call failed after the takeover")
	}
	agentMsgs := 0
	for _, m := range msgs {
		if _, isAgent := agents[m.To]; isAgent && m.Body == added {
			agentMsgs++
		}
	}
	if agentMsgs != 1 {
		t.Errorf("agents got %q %d times, want once (one agent added, once)", added, agentMsgs)
	}
	want := []string{
		"Trigger -incomingConversationMessage-> hold",
		"hold -sent-> add-support-agent",
		"add-support-agent -success-> confirm",
		"confirm -sent-> Ended",
	}
	if got := s.steps(t, flowSid, ended[0].GetSid()); !slices.Equal(got, want) {
		t.Errorf("steps = %q, want %q", got, want)
	}
	// Takeover waits for B's 5 s lease to lapse, then A's rescan (1 s).
	// The bound is generous for a loaded CI machine; the figure is logged.
	if took > 15*time.Second {
		t.Errorf("A confirmed %s after B died, want within 15 s (lease TTL 5 s + rescan 1 s)", took)
	}
}
