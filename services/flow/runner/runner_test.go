package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/internal/shared"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
)

func TestSupportAgentFlow(t *testing.T) {
	t.Parallel()
	def := readFile(t, shared.Path(t, "flows/support-agent.json"))
	tests := []struct {
		name      string
		body      string
		wantPath  []string
		wantCalls int
		wantSent  []string
	}{
		{
			name: "support_adds_an_agent",
			body: "support",
			wantPath: []string{
				"Trigger>check-support", "check-support>add-support-agent",
				"add-support-agent>support-confirmation-message", "support-confirmation-message>Ended",
			},
			wantCalls: 1,
			wantSent:  []string{customer + ": support", "system: Added support agent"},
		},
		{
			name:     "hello_ends_at_no_match",
			body:     "hello",
			wantPath: []string{"Trigger>check-support", "check-support>Ended"},
			wantSent: []string{customer + ": hello"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			flow := h.createFlow(def)
			ch := h.conversation(flow, "")
			h.text(ch, tt.body)

			x := h.only(flow)
			if x.Status != store.ExecutionStatusEnded || x.EndedReason != store.EndedReasonFlowEnd || x.ConversationSID != ch || x.ContactChannelAddress != customer || x.FlowRevision != 1 {
				t.Errorf("execution = %+v", x)
			}
			if diff := cmp.Diff(tt.wantPath, h.path(x.SID)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			calls := h.functionCalls()
			if len(calls) != tt.wantCalls {
				t.Fatalf("%d function calls, want %d: %v", len(calls), tt.wantCalls, calls)
			}
			for _, c := range calls {
				if c["conversationID"] != ch || c["path"] != "/functions/add-support-agent" {
					t.Errorf("function call %v, want conversationID=%s on the mapped path", c, ch)
				}
			}
			if diff := cmp.Diff(tt.wantSent, h.bodies(ch)); diff != "" {
				t.Errorf("conversation messages (-want +got):\n%s", diff)
			}
			var sms []string
			for _, m := range h.fake.Outbox(conversations.OutboxFilter{ConversationSid: ch}) {
				sms = append(sms, m.To+": "+m.Body)
			}
			wantSMS := []string(nil)
			if tt.wantCalls > 0 {
				wantSMS = []string{customer + ": Added support agent"}
			}
			if diff := cmp.Diff(wantSMS, sms); diff != "" {
				t.Errorf("SMS outbox (-want +got):\n%s", diff)
			}
			// The engine's own post carries no X-Twilio-Webhook-Enabled, so
			// the studio webhook fired for the customer's message only.
			if n := len(h.fake.WebhookAttempts()); n != 1 {
				t.Errorf("%d webhook attempts, want 1", n)
			}
		})
	}
}

func TestSendAndWaitResumedBySecondParticipant(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(waitFlow(t, "3600"))
	ch := h.conversation(flow, "")
	h.addAgent(ch, "agent-ada")

	h.text(ch, "hi")
	x := h.only(flow)
	if x.Status != store.ExecutionStatusActive {
		t.Fatalf("after the first message: %+v", x)
	}
	h.post(ch, "agent-ada", "Ada")

	x = h.only(flow)
	if x.Status != store.ExecutionStatusEnded {
		t.Fatalf("after the reply: %+v", x)
	}
	if diff := cmp.Diff([]string{"Trigger>ask", "ask>greet", "greet>Ended"}, h.path(x.SID)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	want := []string{customer + ": hi", "system: What is your name?", "agent-ada: Ada", "system: Hello Ada (agent-ada)"}
	if diff := cmp.Diff(want, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	// trigger.* keeps the starting message; inbound.* has the reply.
	var c struct {
		Trigger struct{ Conversation map[string]any } `json:"trigger"`
		Widgets map[string]struct {
			Inbound map[string]any `json:"inbound"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal(x.Context, &c); err != nil {
		t.Fatal(err)
	}
	if c.Trigger.Conversation["Body"] != "hi" || c.Widgets["ask"].Inbound["Author"] != "agent-ada" || c.Widgets["ask"].Inbound["ConversationSid"] != ch {
		t.Errorf("context: trigger %v, inbound %v", c.Trigger.Conversation, c.Widgets["ask"].Inbound)
	}

	// After the end, the next message starts a new execution (studio.md §7.2).
	h.text(ch, "again")
	if xs := h.executions(flow); len(xs) != 2 || xs[0].Status != store.ExecutionStatusActive {
		t.Errorf("executions after a new message: %+v", xs)
	}
}

// TestParkedExecutionKeepsNoSendRecords: a send's record is only needed
// until its attempt commits, so an execution parked in a wait, and one
// that ended, keep none in the store, whether the commit took the early
// record over (wait) or the early record committed on its own while a
// Function call ran (reply_then_function); the replay protection of
// TestIdempotentSendAfterCrash still holds.
func TestParkedExecutionKeepsNoSendRecords(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, pg bool) {
		t.Run("wait", func(t *testing.T) {
			h := newHarness(t, harnessOptions{postgres: pg})
			flow := h.createFlow(waitFlow(t, "3600"))
			ch := h.conversation(flow, "")
			h.text(ch, "hi")
			if x := h.only(flow); x.Status != store.ExecutionStatusActive {
				t.Fatalf("after the first message: %+v", x)
			}
			noSendRecords(t, h, ch, 1)
			h.post(ch, "agent", "Ada")
			if x := h.only(flow); x.Status != store.ExecutionStatusEnded {
				t.Fatalf("after the reply: %+v", x)
			}
			noSendRecords(t, h, ch, 2)
		})
		t.Run("reply_then_function", func(t *testing.T) {
			// The call outlasts the early record's wait for the commit.
			h := newHarness(t, harnessOptions{postgres: pg, onFunction: func() { time.Sleep(50 * time.Millisecond) }})
			flow := h.createFlow(readFile(t, "testdata/reply-then-function.json"))
			ch := h.conversation(flow, "")
			h.text(ch, "hi")
			if x := h.only(flow); x.Status != store.ExecutionStatusEnded {
				t.Fatalf("after the message: %+v", x)
			}
			noSendRecords(t, h, ch, 1)
		})
	})
}

// noSendRecords checks that want messages of ch carry a send key and that
// none of those keys has a record in the store.
func noSendRecords(t *testing.T, h *harness, ch string, want int) {
	t.Helper()
	var keys []string
	for _, m := range h.fake.Messages(ch) {
		var a struct {
			Key string `json:"convoflow_send_key"`
		}
		if json.Unmarshal([]byte(m.Attributes), &a) == nil && a.Key != "" {
			keys = append(keys, a.Key)
		}
	}
	if len(keys) != want {
		t.Fatalf("%d messages carry a send key, want %d", len(keys), want)
	}
	for _, k := range keys {
		if s, err := h.st.GetSend(context.Background(), k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("send %s still recorded (created %s, err %v)", k, s.CreateTime, err)
		}
	}
}

func TestTimeoutFires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(waitFlow(t, "1"))
	ch := h.conversation(flow, "")
	h.text(ch, "hi")
	x := h.only(flow)
	eventually(t, "the timeout", func() bool {
		got, err := h.st.GetExecution(context.Background(), x.SID)
		return err == nil && got.Status == store.ExecutionStatusEnded
	})
	if diff := cmp.Diff([]string{"Trigger>ask", "ask>too-slow", "too-slow>Ended"}, h.path(x.SID)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	want := []string{customer + ": hi", "system: What is your name?", "system: No answer in time"}
	if diff := cmp.Diff(want, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestRestartWhileWaiting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	replyFlow := h.createFlow(waitFlow(t, "3600"))
	timeoutFlow := h.createFlow(waitFlow(t, "2"))
	chReply := h.conversation(replyFlow, "")
	h.text(chReply, "hi")

	// A second customer, for the timer armed before the restart.
	const other = "+15551230009"
	chTimeout := h.conversationWith(timeoutFlow, "", other)
	h.textFrom(chTimeout, other, "hi")
	waiting := h.only(timeoutFlow)

	h.restart()

	h.post(chReply, "agent-bob", "Bob")
	x := h.only(replyFlow)
	if x.Status != store.ExecutionStatusEnded {
		t.Fatalf("after the restart and the reply: %+v", x)
	}
	if diff := cmp.Diff([]string{"Trigger>ask", "ask>greet", "greet>Ended"}, h.path(x.SID)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	eventually(t, "the timer armed before the restart", func() bool {
		got, err := h.st.GetExecution(context.Background(), waiting.SID)
		return err == nil && got.Status == store.ExecutionStatusEnded
	})
	if diff := cmp.Diff([]string{"Trigger>ask", "ask>too-slow", "too-slow>Ended"}, h.path(waiting.SID)); diff != "" {
		t.Errorf("steps of the timed-out execution (-want +got):\n%s", diff)
	}
}

func TestPendingEventsResumeAfterRestart(t *testing.T) {
	t.Parallel()
	// The runner recording the event stops before processing it (its
	// store refuses the engine's commit); the next one processes it on Start.
	var refuse atomic.Bool
	refuse.Store(true)
	h := newHarness(t, harnessOptions{wrapStore: func(s store.Store) store.Store {
		return &faultyStore{Store: s, fail: func(commit string) error {
			if commit != "" && refuse.Load() {
				return errSimulatedCrash
			}
			return nil
		}}
	}})
	flow := h.createFlow(waitFlow(t, "3600"))
	ch := h.conversation(flow, "")
	if _, err := h.fake.Inbound(context.Background(), conversations.InboundMessage{From: customer, To: proxy, Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := h.fake.WaitWebhooks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if xs := h.executions(flow); len(xs) != 0 {
		t.Fatalf("executions committed during the outage: %+v", xs)
	}
	h.shutdown()
	refuse.Store(false)
	h.start()
	h.settle(ch)
	if x := h.only(flow); x.Status != store.ExecutionStatusActive {
		t.Errorf("execution after the restart: %+v", x)
	}
	// Sent once, although the first runner's attempts posted it before
	// their commits failed.
	if diff := cmp.Diff([]string{customer + ": hi", "system: What is your name?"}, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestRedeliveryIsDuplicate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(waitFlow(t, "3600"))
	ch := h.conversation(flow, "")
	ctx := context.Background()
	ev := runner.ConversationEvent{FlowSid: flow, IdempotencyToken: "token-1", ConversationSid: ch, MessageSid: newSID("IM"), Author: customer, Body: "hi", Source: "SMS"}
	tests := []struct {
		name string
		edit func(e *runner.ConversationEvent)
		want runner.Disposition
	}{
		{"first_delivery", func(*runner.ConversationEvent) {}, runner.DispositionQueued},
		{"same_token_and_message", func(*runner.ConversationEvent) {}, runner.DispositionDuplicate},
		{"same_message_new_token", func(e *runner.ConversationEvent) { e.IdempotencyToken = "token-2" }, runner.DispositionDuplicate},
		{"same_token_no_message_sid", func(e *runner.ConversationEvent) { e.MessageSid = "" }, runner.DispositionDuplicate},
	}
	for _, tt := range tests {
		e := ev
		tt.edit(&e)
		got, err := h.runner().HandleConversationEvent(ctx, e)
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
		h.settle(ch)
	}
	x := h.only(flow)
	if diff := cmp.Diff([]string{"Trigger>ask"}, h.path(x.SID)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if n := len(h.fake.Messages(ch)); n != 1 {
		t.Errorf("%d messages in the conversation, want the question only", n)
	}
	out, err := h.runner().ProcessConversationEvent(ctx, ev)
	if err != nil || out.Disposition != runner.DispositionDuplicate || out.ExecutionSid != x.SID {
		t.Errorf("ProcessConversationEvent of a redelivery = %+v, %v", out, err)
	}
}

func TestOwnMessagesIgnored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(waitFlow(t, "3600"))
	ch := h.conversation(flow, "")
	ev := runner.ConversationEvent{FlowSid: flow, ConversationSid: ch, MessageSid: newSID("IM"), Author: runner.DefaultMessageAuthor, Body: "What is your name?", Source: "API"}
	d, err := h.runner().HandleConversationEvent(context.Background(), ev)
	if err != nil || d != runner.DispositionIgnored {
		t.Fatalf("own message: %q, %v", d, err)
	}
	h.settle(ch)
	if xs := h.executions(flow); len(xs) != 0 {
		t.Errorf("the engine's own message started %+v", xs)
	}
	// The same author writing over SMS is a participant like any other.
	ev.Source = "SMS"
	if d, err := h.runner().HandleConversationEvent(context.Background(), ev); err != nil || d != runner.DispositionQueued {
		t.Errorf("SMS message by %q: %q, %v", ev.Author, d, err)
	}
}

func TestEventErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(waitFlow(t, "3600"))
	tests := []struct {
		name string
		ev   runner.ConversationEvent
		want error
	}{
		{"unknown_flow", runner.ConversationEvent{FlowSid: newSID("FW"), ConversationSid: newSID("CH"), MessageSid: newSID("IM")}, store.ErrNotFound},
		{"unknown_flow_own_message", runner.ConversationEvent{FlowSid: newSID("FW"), ConversationSid: newSID("CH"), MessageSid: newSID("IM"), Author: "system", Source: "API"}, store.ErrNotFound},
		{"no_flow", runner.ConversationEvent{ConversationSid: newSID("CH"), MessageSid: newSID("IM")}, store.ErrInvalidArgument},
		{"no_conversation", runner.ConversationEvent{FlowSid: flow, MessageSid: newSID("IM")}, store.ErrInvalidArgument},
		{"no_message_sid_nor_token", runner.ConversationEvent{FlowSid: flow, ConversationSid: newSID("CH")}, store.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.runner().HandleConversationEvent(context.Background(), tt.ev); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDraftOnlyFlowRunsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	sid := h.createDraftFlow(waitFlow(t, "60"))
	ch := h.conversation("", "")
	out, err := h.runner().ProcessConversationEvent(context.Background(), runner.ConversationEvent{FlowSid: sid, ConversationSid: ch, MessageSid: newSID("IM"), Author: customer, Body: "hi", Source: "SMS"})
	if err != nil || out.Disposition != runner.DispositionFailed || !strings.Contains(out.Error, "no published revision") {
		t.Errorf("outcome = %+v, %v", out, err)
	}
	if xs := h.executions(sid); len(xs) != 0 {
		t.Errorf("executions of a draft-only flow: %+v", xs)
	}
}

func TestExecutionKeepsItsRevision(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(waitFlow(t, "3600"))
	ch := h.conversation(flow, "")
	h.text(ch, "hi")
	h.updateFlow(flow, []byte(strings.Replace(string(waitFlow(t, "3600")), "Hello ", "Welcome ", 1)))
	h.post(ch, "agent", "Ada")
	h.text(ch, "hi again")
	h.post(ch, "agent", "Bo")
	xs := h.executions(flow)
	if len(xs) != 2 || xs[1].FlowRevision != 1 || xs[0].FlowRevision != 2 {
		t.Fatalf("executions: %+v", xs)
	}
	want := []string{
		customer + ": hi", "system: What is your name?", "agent: Ada", "system: Hello Ada (agent)",
		customer + ": hi again", "system: What is your name?", "agent: Bo", "system: Welcome Bo (agent)",
	}
	if diff := cmp.Diff(want, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestChannelAttributes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	def := strings.Replace(string(readFile(t, "testdata/send-once.json")), "Got {{trigger.conversation.Body}}", "Team {{trigger.conversation.ChannelAttributes.team}} via {{flow.channel.address}}", 1)
	flow := h.createFlow([]byte(def))
	ch := h.conversation(flow, `{"team":"billing"}`)
	h.text(ch, "hi")
	if diff := cmp.Diff([]string{customer + ": hi", "system: Team billing via " + proxy}, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}

	// With the conversation and participant lookups failing, the execution
	// starts without them rather than holding the queue.
	if _, err := h.fake.InjectFault(conversations.Fault{Method: "GET", Path: "/v1/Conversations/*", Status: 503, Code: 20503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.fake.InjectFault(conversations.Fault{Method: "GET", Path: "/v1/Conversations/*/Participants/*", Status: 503, Code: 20503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(ch, "again")
	if got := h.bodies(ch); got[len(got)-1] != "system: Team  via "+ch {
		t.Errorf("message without the lookups: %q", got[len(got)-1])
	}
}

// TestStrictOrdering delivers many messages of one conversation at once:
// processed in arrival order, each odd one starts an execution that waits
// and the next one answers it.
func TestStrictOrdering(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(waitFlow(t, "3600"))
	ch := h.conversation(flow, "")
	const n = 20
	var wg sync.WaitGroup
	// A done event keeps its message SID, not its payload.
	bodies := map[string]string{}
	for i := range n {
		bodies[newSID("IM")] = fmt.Sprintf("m%d", i)
	}
	for sid, body := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := runner.ConversationEvent{FlowSid: flow, ConversationSid: ch, MessageSid: sid, Author: customer, Body: body, Source: "SMS"}
			if d, err := h.runner().HandleConversationEvent(context.Background(), ev); err != nil || d != runner.DispositionQueued {
				t.Errorf("event %s: %q, %v", sid, d, err)
			}
		}()
	}
	wg.Wait()
	h.settle(ch)
	// Event IDs are assigned in arrival order on a fresh store.
	var (
		wantSent []string
		lastExec string
	)
	for id := int64(1); id <= n; id++ {
		e, err := h.st.GetEvent(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Sequence != id {
			t.Errorf("event %d has sequence %d", id, e.Sequence)
		}
		var out runner.Outcome
		if err := json.Unmarshal(e.Outcome, &out); err != nil {
			t.Fatal(err)
		}
		if id%2 == 1 {
			if out.Disposition != runner.DispositionStarted {
				t.Errorf("event %d: %+v, want STARTED", id, out)
			}
			lastExec = out.ExecutionSid
			wantSent = append(wantSent, "system: What is your name?")
		} else {
			if out.Disposition != runner.DispositionResumed || out.ExecutionSid != lastExec {
				t.Errorf("event %d: %+v, want RESUMED %s", id, out, lastExec)
			}
			wantSent = append(wantSent, "system: Hello "+bodies[e.MessageSID]+" ("+customer+")")
		}
	}
	var sent []string
	for _, b := range h.bodies(ch) {
		if strings.HasPrefix(b, "system: ") {
			sent = append(sent, b)
		}
	}
	if diff := cmp.Diff(wantSent, sent); diff != "" {
		t.Errorf("the engine's messages (-want +got):\n%s", diff)
	}
}

func TestIdempotentSendAfterCrash(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		wrap func(engine.Messenger) engine.Messenger
	}{
		{"lookup", nil},
		// Without SentLookup only the send records in the store keep the
		// replay from sending again: those a failed commit took over from
		// the early records must be written all the same.
		{"records_only", func(m engine.Messenger) engine.Messenger { return sendOnly{m} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testIdempotentSendAfterCrash(t, tc.wrap)
		})
	}
}

// sendOnly hides every method of a Messenger but Send (SentLookup).
type sendOnly struct{ engine.Messenger }

func testIdempotentSendAfterCrash(t *testing.T, wrap func(engine.Messenger) engine.Messenger) {
	// Every commit of an engine result fails the first time, as if the
	// process died after sending and before committing; the replay must
	// not send again.
	var (
		mu      sync.Mutex
		seen    = map[string]bool{}
		crashes int
	)
	h := newHarness(t, harnessOptions{wrap: wrap, wrapStore: func(s store.Store) store.Store {
		return &faultyStore{Store: s, fail: func(commit string) error {
			mu.Lock()
			defer mu.Unlock()
			if commit == "" || seen[commit] {
				return nil
			}
			seen[commit] = true
			crashes++
			return errSimulatedCrash
		}}
	}})
	flow := h.createFlow(waitFlow(t, "3600"))
	ch := h.conversation(flow, "")
	h.text(ch, "hi")
	h.post(ch, "agent", "Ada")

	x := h.only(flow)
	if x.Status != store.ExecutionStatusEnded {
		t.Fatalf("execution: %+v", x)
	}
	if diff := cmp.Diff([]string{"Trigger>ask", "ask>greet", "greet>Ended"}, h.path(x.SID)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	want := []string{customer + ": hi", "system: What is your name?", "agent: Ada", "system: Hello Ada (agent)"}
	if diff := cmp.Diff(want, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if crashes != 2 {
		t.Errorf("%d crashed commits, want 2 (the start and the resume)", crashes)
	}
}

func TestConversationsAPIDownTakesFailurePath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(readFile(t, "testdata/send-once.json"))
	ch := h.conversation(flow, "")
	// Down for good: every retry of the post fails too.
	if _, err := h.fake.InjectFault(conversations.Fault{Method: "POST", Path: "/v1/Conversations/*/Messages", Status: 503, Code: 20503}); err != nil {
		t.Fatal(err)
	}
	h.text(ch, "hi")
	x := h.only(flow)
	h.fake.ClearFaults()
	if x.Status != store.ExecutionStatusEnded {
		t.Fatalf("execution: %+v", x)
	}
	page, err := h.st.ListSteps(context.Background(), x.SID, store.PageParams{})
	if err != nil {
		t.Fatal(err)
	}
	last := page.Steps[len(page.Steps)-1]
	if last.Name != "failed" || last.TransitionedFrom != "reply" || !strings.Contains(string(last.Context), `"code":81011`) {
		t.Errorf("last step %s %s>%s context %s", last.Name, last.TransitionedFrom, last.TransitionedTo, last.Context)
	}
	// The next message is processed normally.
	h.text(ch, "again")
	if xs := h.executions(flow); len(xs) != 2 || xs[0].Status != store.ExecutionStatusEnded {
		t.Errorf("executions: %+v", xs)
	}
	if diff := cmp.Diff([]string{customer + ": hi", customer + ": again", "system: Got again"}, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestCreateExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(readFile(t, "testdata/rest-wait.json"))
	ch := h.conversation("", "")
	ctx := context.Background()
	r := h.runner()

	x, err := r.CreateExecution(ctx, flow, customer, proxy, map[string]any{"when": "Monday 9:00"})
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != store.ExecutionStatusActive || x.ContactChannelAddress != customer || x.ConversationSID != "" {
		t.Errorf("execution: %+v", x)
	}
	// Outside a conversation the message goes to the contact's open
	// conversation.
	if diff := cmp.Diff([]string{"system: Your appointment is Monday 9:00. Reply YES to confirm."}, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}

	_, err = r.CreateExecution(ctx, flow, customer, proxy, nil)
	var active *store.ActiveExecutionError
	if !errors.As(err, &active) || active.ExecutionSID != x.SID {
		t.Fatalf("second CreateExecution: %v, want *store.ActiveExecutionError for %s", err, x.SID)
	}

	ended, err := r.EndExecution(ctx, flow, x.SID)
	if err != nil || ended.Status != store.ExecutionStatusEnded || ended.EndedReason != store.EndedReasonAPI {
		t.Fatalf("EndExecution = %+v, %v", ended, err)
	}
	if _, err := r.EndExecution(ctx, flow, x.SID); !errors.Is(err, runner.ErrAlreadyEnded) {
		t.Errorf("second EndExecution: %v, want ErrAlreadyEnded", err)
	}
	if _, err := r.EndExecution(ctx, newSID("FW"), x.SID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EndExecution with another flow: %v, want ErrNotFound", err)
	}
	if _, err := r.CreateExecution(ctx, flow, customer, proxy, nil); err != nil {
		t.Errorf("CreateExecution after the end: %v", err)
	}

	// A contact in no conversation: the send fails and the unconnected
	// deliveryFailure ends the execution.
	lone, err := r.CreateExecution(ctx, flow, "+15559990000", proxy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lone.Status != store.ExecutionStatusEnded {
		t.Errorf("execution for a contact without a conversation: %+v", lone)
	}
	steps, err := h.st.ListSteps(ctx, lone.SID, store.PageParams{})
	if err != nil {
		t.Fatal(err)
	}
	if last := steps.Steps[len(steps.Steps)-1]; last.Name != "deliveryFailure" || !strings.Contains(string(last.Context), "no open conversation") {
		t.Errorf("last step %s, context %s", last.Name, last.Context)
	}

	if _, err := r.CreateExecution(ctx, newSID("FW"), customer, proxy, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown flow: %v", err)
	}
	if _, err := r.CreateExecution(ctx, flow, "", proxy, nil); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("no To: %v", err)
	}
}

// TestRESTExecutionResumedFromConversation: the contact answers a REST
// execution's question in the conversation its message went to.
func TestRESTExecutionResumedFromConversation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(readFile(t, "testdata/rest-wait.json"))
	ch := h.conversation(flow, "")
	x, err := h.runner().CreateExecution(context.Background(), flow, customer, proxy, map[string]any{"when": "Friday"})
	if err != nil {
		t.Fatal(err)
	}
	h.text(ch, "YES")
	xs := h.executions(flow)
	if len(xs) != 1 || xs[0].SID != x.SID || xs[0].Status != store.ExecutionStatusEnded {
		t.Fatalf("executions: %+v", xs)
	}
	want := []string{"system: Your appointment is Friday. Reply YES to confirm.", customer + ": YES", "system: Thanks: YES"}
	if diff := cmp.Diff(want, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestSubscribe(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	flow := h.createFlow(waitFlow(t, "3600"))
	ch := h.conversation(flow, "")
	h.text(ch, "hi")
	x := h.only(flow)
	steps, cancel := h.runner().Subscribe(x.SID)
	defer cancel()
	h.post(ch, "agent", "Ada")
	var got []string
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case s, ok := <-steps:
			if !ok {
				done = true
				break
			}
			got = append(got, fmt.Sprintf("%d %s>%s", s.Sequence, s.TransitionedFrom, s.TransitionedTo))
		case <-timeout:
			t.Fatalf("the channel was not closed; got %v", got)
		}
	}
	if diff := cmp.Diff([]string{"2 ask>greet", "3 greet>Ended"}, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}

	// An ended (or unknown) execution's channel closes at once.
	for _, sid := range []string{x.SID, newSID("FN")} {
		ch, cancel := h.runner().Subscribe(sid)
		select {
		case s, ok := <-ch:
			if ok {
				t.Errorf("%s: step %+v", sid, s)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: channel not closed", sid)
		}
		cancel()
	}

	// cancel closes a live subscription.
	h.text(ch, "again")
	live := h.executions(flow)[0]
	c2, cancel2 := h.runner().Subscribe(live.SID)
	cancel2()
	select {
	case _, ok := <-c2:
		if ok {
			t.Error("a step after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Error("cancel did not close the channel")
	}
}

func TestLifetimeEndsExecution(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	h := newHarness(t, harnessOptions{clock: clock})
	// A wait longer than the lifetime, so LIFETIME is the first timer due.
	flow := h.createFlow(waitFlow(t, "2700000"))
	ch := h.conversation(flow, "")
	h.text(ch, "hi")
	x := h.only(flow)
	offset.Store(int64(engine.ExecutionLifetime + time.Hour))
	eventually(t, "the LIFETIME timer", func() bool {
		got, err := h.st.GetExecution(context.Background(), x.SID)
		return err == nil && got.Status == store.ExecutionStatusEnded
	})
	got, _ := h.st.GetExecution(context.Background(), x.SID)
	if got.EndedReason != store.EndedReasonLifetime {
		t.Errorf("ended reason %q, want LIFETIME", got.EndedReason)
	}
	if diff := cmp.Diff([]string{"Trigger>ask"}, h.path(x.SID)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

// TestSubflowWaitKeepsRevision runs a subflow that waits for a reply: the
// resume reloads the subflow from the store at the revision it started on,
// although a newer one was published meanwhile.
func TestSubflowWaitKeepsRevision(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	child := readFile(t, "testdata/subflow-child.json")
	childSid := h.createFlow([]byte(strings.Replace(string(child), "PREFIX", "", 1)))
	parent := h.createFlow([]byte(strings.Replace(string(readFile(t, "testdata/subflow-parent.json")), "CHILD", childSid, 1)))
	ch := h.conversation(parent, "")
	h.text(ch, "hi")
	h.updateFlow(childSid, []byte(strings.Replace(string(child), "PREFIX", "changed ", 1)))
	h.post(ch, "agent", "42")

	x := h.only(parent)
	if x.Status != store.ExecutionStatusEnded {
		t.Fatalf("execution: %+v", x)
	}
	want := []string{customer + ": hi", "system: Question for " + customer, "agent: 42", "system: Answer: 42"}
	if diff := cmp.Diff(want, h.bodies(ch)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}

	// The subflow's steps name the subflow and the parent's step that
	// entered it, as Studio's steps do.
	page, err := h.st.ListSteps(context.Background(), x.SID, store.PageParams{PageSize: store.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	flows := map[string]string{parent: "parent", childSid: "child"}
	index := map[string]int{}
	var got []string
	for i, st := range page.Steps {
		index[st.SID] = i
		p, ok := index[st.ParentStepSID]
		if !ok {
			p = -1
		}
		got = append(got, fmt.Sprintf("%s>%s in %s, parent step %d", st.TransitionedFrom, st.TransitionedTo, flows[st.FlowSID], p))
	}
	wantSteps := []string{
		"Trigger>sub in parent, parent step -1",
		"Trigger>ask in child, parent step 0",
		"ask>keep in child, parent step 0",
		"keep>Ended in child, parent step 0",
		"sub>report in parent, parent step -1",
		"report>Ended in parent, parent step -1",
	}
	if diff := cmp.Diff(wantSteps, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	tests := []struct {
		name string
		cfg  runner.Config
		want string
	}{
		{"no_store", runner.Config{AccountSid: "AC1", AuthToken: "t"}, "Store is required"},
		{"no_credentials", runner.Config{Store: h.st}, "AccountSid and Config.AuthToken are required"},
		{"bad_function_map", runner.Config{Store: h.st, AccountSid: "AC1", AuthToken: "t", FunctionMap: []string{"nope"}}, "not FROM=TO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := runner.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	r, err := runner.New(runner.Config{Store: h.st, Messenger: runner.NewTwilioMessenger(nil, "bot")})
	if err != nil {
		t.Fatalf("New with a Messenger and no credentials: %v", err)
	}
	if r.Engine() == nil || r.Owner() == "" {
		t.Error("no engine or no owner")
	}
}

// TestStaleTimersIgnored fires timers the waiting execution does not expect:
// one armed for another widget is dropped, one that comes before the wait's
// deadline is re-armed at the deadline; the execution does not move.
func TestStaleTimersIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		// rearmed: the timer is scheduled again at the wait's deadline.
		rearmed bool
	}{
		{"other_widget", `{"widget":"greet"}`, false},
		{"before_the_deadline", `{"widget":"ask"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spy := &timerSpy{}
			h := newHarness(t, harnessOptions{wrapStore: func(s store.Store) store.Store { spy.Store = s; return spy }})
			flow := h.createFlow(waitFlow(t, "3600"))
			ch := h.conversation(flow, "")
			h.text(ch, "hi")
			x := h.only(flow)
			ctx := context.Background()
			before := spy.schedules(x.SID)
			stale, err := h.st.ScheduleTimer(ctx, store.Timer{ExecutionSID: x.SID, Kind: store.TimerKindWaitTimeout, FireTime: time.Now(), Payload: json.RawMessage(tt.payload)})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the stale timer handled", func() bool {
				return spy.wasDeleted(stale.ID) || (tt.rearmed && spy.schedules(x.SID) > before)
			})
			h.shutdown()
			// What is left, seen by claiming everything due in two hours,
			// with the runner stopped.
			st := h.openStore()
			defer st.Close()
			ts, err := st.ClaimDueTimers(ctx, store.ClaimTimersParams{Now: time.Now().Add(2 * time.Hour), Owner: "inspector", LeaseDuration: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			var waits []store.Timer
			for _, tm := range ts {
				if tm.Kind == store.TimerKindWaitTimeout {
					waits = append(waits, tm)
				}
			}
			if tt.rearmed {
				if len(waits) != 1 || waits[0].FireTime.Before(time.Now().Add(59*time.Minute)) {
					t.Errorf("wait timers %+v, want one at the deadline an hour away", waits)
				}
			} else if len(waits) != 0 {
				t.Errorf("wait timers %+v, want the stale one dropped", waits)
			}
			got, err := st.GetExecution(ctx, x.SID)
			if err != nil || got.Status != store.ExecutionStatusActive || got.Version != x.Version {
				t.Errorf("execution moved: %+v, %v", got, err)
			}
			if n := len(h.fake.Messages(ch)); n != 2 {
				t.Errorf("%d messages, want the question only", n)
			}
		})
	}
}

// timerSpy notes the timers the runner deleted and counts the timers it
// scheduled per execution.
type timerSpy struct {
	store.Store
	mu        sync.Mutex
	deleted   map[int64]bool
	scheduled map[string]int
}

func (s *timerSpy) wasDeleted(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleted[id]
}

func (s *timerSpy) schedules(sid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scheduled[sid]
}

func (s *timerSpy) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	var rec timerTx
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		rec = timerTx{Tx: tx}
		return fn(&rec)
	})
	if err == nil {
		s.mu.Lock()
		if s.deleted == nil {
			s.deleted, s.scheduled = map[int64]bool{}, map[string]int{}
		}
		for _, id := range rec.deleted {
			s.deleted[id] = true
		}
		for _, sid := range rec.scheduled {
			s.scheduled[sid]++
		}
		s.mu.Unlock()
	}
	return err
}

type timerTx struct {
	store.Tx
	deleted   []int64
	scheduled []string
}

func (t *timerTx) DeleteTimer(ctx context.Context, id int64, owner string) error {
	err := t.Tx.DeleteTimer(ctx, id, owner)
	if err == nil {
		t.deleted = append(t.deleted, id)
	}
	return err
}

func (t *timerTx) ScheduleTimer(ctx context.Context, tm store.Timer) (store.Timer, error) {
	out, err := t.Tx.ScheduleTimer(ctx, tm)
	if err == nil && tm.Kind == store.TimerKindWaitTimeout {
		t.scheduled = append(t.scheduled, tm.ExecutionSID)
	}
	return out, err
}

func (t *timerTx) ScheduleTimerLater(ctx context.Context, tm store.Timer) error {
	err := t.Tx.ScheduleTimerLater(ctx, tm)
	if err == nil && tm.Kind == store.TimerKindWaitTimeout {
		t.scheduled = append(t.scheduled, tm.ExecutionSID)
	}
	return err
}
