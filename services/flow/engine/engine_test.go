package engine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readTestFlow(tb testing.TB, e *Engine, name string) *Definition {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "flows", name))
	if err != nil {
		tb.Fatal(err)
	}
	d, err := e.Read(context.Background(), data)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestNewRequiresDependencies(t *testing.T) {
	t.Parallel()
	full := Options{Clock: SystemClock{}, IDs: RandomIDs{}, Messenger: &fakeMessenger{}}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no_clock", func(o *Options) { o.Clock = nil }, "Clock"},
		{"no_ids", func(o *Options) { o.IDs = nil }, "IDs"},
		{"no_messenger", func(o *Options) { o.Messenger = nil }, "Messenger"},
		{"complete", func(o *Options) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := full
			tt.change(&o)
			_, err := New(o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestRandomIDs(t *testing.T) {
	t.Parallel()
	a, b := RandomIDs{}.NewSID("FN"), RandomIDs{}.NewSID("FN")
	if len(a) != 34 || !strings.HasPrefix(a, "FN") || a == b {
		t.Fatalf("RandomIDs gave %q and %q", a, b)
	}
}

// TestResumeErrors covers the calls FlowService must refuse.
func TestResumeErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldSpec{})
	def := readTestFlow(t, w.engine, "split-set-send.json")
	res, err := w.engine.Start(t.Context(), def, (&triggerSpec{}).trigger())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Ended() || res.Wait != nil {
		t.Fatalf("a \"hello\" run should end at once: %+v", res.Execution)
	}
	if _, err := w.engine.Resume(t.Context(), def, res.Execution, Resume{Kind: ResumeTimeout}); !errors.Is(err, ErrEnded) {
		t.Errorf("Resume of an ended execution: %v, want ErrEnded", err)
	}
	if _, err := w.engine.End(res.Execution, EndedAPI); !errors.Is(err, ErrEnded) {
		t.Errorf("End of an ended execution: %v, want ErrEnded", err)
	}
	active := &Execution{Sid: "FN1", Status: StatusActive, Context: Context{Widgets: map[string]any{}}}
	if _, err := w.engine.Resume(t.Context(), def, active, Resume{Kind: ResumeReply}); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("Resume of a running execution: %v, want ErrNotWaiting", err)
	}
	if _, err := w.engine.End(active, EndedMaxSteps); err == nil {
		t.Error("End accepted a reason only the engine itself gives")
	}
	ended, err := w.engine.End(active, EndedLifetime)
	if err != nil || !ended.Ended() || active.EndedReason != EndedLifetime || len(ended.Steps) != 0 {
		t.Errorf("End: %v, %+v", err, active)
	}
}

// TestInvalidDefinitionRefused checks Start's own structural check.
func TestInvalidDefinitionRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldSpec{})
	d, err := Parse([]byte(`{"states":[{"name":"Trigger","type":"trigger","transitions":[{"event":"incomingConversationMessage","next":"gone"}]}],"initial_state":"Trigger"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.engine.Start(t.Context(), d, (&triggerSpec{}).trigger())
	if !errors.Is(err, ErrInvalidDefinition) {
		t.Fatalf("Start: %v, want ErrInvalidDefinition", err)
	}
}

// cancellingMessenger cancels the run's context and fails, as a send
// interrupted by shutdown does.
type cancellingMessenger struct{ cancel context.CancelFunc }

func (m *cancellingMessenger) Send(ctx context.Context, o OutboundMessage) (SentMessage, error) {
	m.cancel()
	return SentMessage{}, ctx.Err()
}

// TestCancelledContextIsAFault checks the two error channels: a send that
// fails because the caller's context ended is not a widget failure.
func TestCancelledContextIsAFault(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e, err := New(Options{Clock: &testClock{now: testStart}, IDs: &seqIDs{}, Messenger: &cancellingMessenger{cancel: cancel}})
	if err != nil {
		t.Fatal(err)
	}
	def := readTestFlow(t, e, "split-set-send.json")
	tr := (&triggerSpec{}).trigger()
	tr.Conversation.Body = "go"
	_, err = e.Start(ctx, def, tr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start: %v, want context.Canceled", err)
	}
}

// TestStepContextSnapshots checks that each step holds the context as it
// was after its widget ran, not a later one.
func TestStepContextSnapshots(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldSpec{})
	def := readTestFlow(t, w.engine, "split-set-send.json")
	tr := (&triggerSpec{}).trigger()
	tr.Conversation.Body = "go"
	res, err := w.engine.Start(t.Context(), def, tr)
	if err != nil {
		t.Fatal(err)
	}
	var counts []any
	for _, s := range res.Steps {
		if s.TransitionedFrom != "count" {
			continue
		}
		var c Context
		if err := json.Unmarshal(s.Context, &c); err != nil {
			t.Fatal(err)
		}
		counts = append(counts, c.Flow.Variables["count"])
	}
	if d := jsonDiff(t, []any{"1", "2", "3"}, counts); d != "" {
		t.Errorf("flow.variables.count in the count steps (-want +got):\n%s", d)
	}
}

// FuzzRead checks that reading and validating any input never panics, and
// that whatever validates also starts.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"split-set-send.json", "widget-loop.json", "max-steps.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "flows", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "roundtrip.json")); err == nil {
		f.Add(data)
	}
	var cases []validationCase
	if data, err := os.ReadFile(filepath.Join("testdata", "validation.json")); err == nil && json.Unmarshal(data, &cases) == nil {
		for _, c := range cases {
			f.Add([]byte(c.Definition))
		}
	}
	f.Add([]byte(`{"states":null}`))
	f.Add([]byte(`{"states":[{"name":"Trigger","type":"trigger","transitions":[{"event":"incomingConversationMessage","next":"Trigger"}]}],"initial_state":"Trigger"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newWorld(t, worldSpec{HTTP: []httpAnswerSpec{{Body: "{}"}}})
		d, err := Parse(data)
		if err != nil {
			return
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("a parsed definition does not marshal: %v", err)
		}
		if err := w.engine.Validate(context.Background(), d); err != nil {
			return
		}
		_, _ = w.engine.Start(context.Background(), d, (&triggerSpec{}).trigger())
	})
}

// TestTriggerRefused covers triggers that cannot start an execution: a
// call (the trigger event loads but nothing starts it here) and events
// without their payload.
// TestTriggerExecutionSid starts an execution under a SID the caller chose
// (as the runner does, so that a replay names it the same): the execution,
// flow.sid and every step carry it.
func TestTriggerExecutionSid(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldSpec{})
	def := readTestFlow(t, w.engine, "split-set-send.json")
	const sid = "FN0123456789abcdef0123456789abcdef"
	tr := (&triggerSpec{}).trigger()
	tr.ExecutionSid = sid
	res, err := w.engine.Start(t.Context(), def, tr)
	if err != nil {
		t.Fatal(err)
	}
	if res.Execution.Sid != sid || res.Execution.Context.Flow.Sid != sid {
		t.Errorf("execution %s, flow.sid %s; want %s", res.Execution.Sid, res.Execution.Context.Flow.Sid, sid)
	}
	if len(res.Steps) == 0 {
		t.Fatal("no steps")
	}
	for _, s := range res.Steps {
		if s.ExecutionSid != sid {
			t.Errorf("step %s belongs to %s, want %s", s.Sid, s.ExecutionSid, sid)
		}
	}
}

func TestTriggerRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldSpec{})
	def := readTestFlow(t, w.engine, "split-set-send.json")
	tests := []struct {
		name string
		tr   Trigger
	}{
		{"incoming_call", Trigger{FlowSid: testFlowSid, Event: EventIncomingCall}},
		{"incoming_parent", Trigger{FlowSid: testFlowSid, Event: EventIncomingParent}},
		{"conversation_without_message", Trigger{FlowSid: testFlowSid, Event: EventIncomingConversationMessage}},
		{"message_without_parameters", Trigger{FlowSid: testFlowSid, Event: EventIncomingMessage}},
		{"request_without_request", Trigger{FlowSid: testFlowSid, Event: EventIncomingRequest}},
		{"malformed_execution_sid", func() Trigger {
			tr := *(&triggerSpec{}).trigger()
			tr.ExecutionSid = "FN123"
			return tr
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if res, err := w.engine.Start(t.Context(), def, &tt.tr); err == nil {
				t.Fatalf("Start accepted the trigger: %+v", res.Execution)
			}
		})
	}
}

// TestResumeSparseState resumes an execution whose stored context lacks
// maps (written by hand or by an older version): the engine must fill them
// in, not panic.
func TestResumeSparseState(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldSpec{})
	def, err := w.engine.Read(t.Context(), []byte(`{"initial_state":"Trigger","states":[
	  {"name":"Trigger","type":"trigger","transitions":[{"event":"incomingConversationMessage","next":"ask"}],"properties":{}},
	  {"name":"ask","type":"send-and-wait-for-reply","properties":{"body":"?"},
	   "transitions":[{"event":"incomingMessage"},{"event":"timeout","next":"note"},{"event":"deliveryFailure"}]},
	  {"name":"note","type":"set-variables","properties":{"variables":[{"key":"timed_out","value":"yes"}]},"transitions":[{"event":"next"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{
		"null_maps": `{"sid":"FN1","flow_sid":"FW1","status":"active","wait":{"widget":"ask","until":"2026-01-01T00:00:00Z"},
		  "context":{"trigger":null,"widgets":{"ask":null},"flow":{"variables":null,"data":null}}}`,
		"no_context": `{"sid":"FN1","status":"active","wait":{"widget":"ask","until":"2026-01-01T00:00:00Z"}}`,
	}
	for name, state := range states {
		t.Run(name, func(t *testing.T) {
			var x Execution
			if err := json.Unmarshal([]byte(state), &x); err != nil {
				t.Fatal(err)
			}
			res, err := w.engine.Resume(t.Context(), def, &x, Resume{Kind: ResumeTimeout})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Ended() || x.Context.Flow.Variables["timed_out"] != "yes" || len(res.Steps) != 2 {
				t.Fatalf("resume of a sparse state: %+v", x)
			}
		})
	}
}

// FuzzResume feeds arbitrary persisted state to Resume: a corrupt or
// hand-edited execution must give an error or a result, never a panic.
func FuzzResume(f *testing.F) {
	parent := `{"initial_state":"Trigger","states":[
	  {"name":"Trigger","type":"trigger","transitions":[{"event":"incomingConversationMessage","next":"sub"}],"properties":{}},
	  {"name":"sub","type":"run-subflow","properties":{"flow_sid":"FW2","flow_revision":"1"},"transitions":[{"event":"completed","next":"ask"},{"event":"failed"}]},
	  {"name":"ask","type":"send-and-wait-for-reply","properties":{"body":"{{widgets.sub.name}}?"},
	   "transitions":[{"event":"incomingMessage","next":"sub"},{"event":"timeout"},{"event":"deliveryFailure"}]}]}`
	sub := `{"initial_state":"Trigger","states":[
	  {"name":"Trigger","type":"trigger","transitions":[{"event":"incomingParent","next":"ask"}],"properties":{}},
	  {"name":"ask","type":"send-and-wait-for-reply","properties":{"body":"name?","timeout":"5"},
	   "transitions":[{"event":"incomingMessage","next":"keep"},{"event":"timeout"},{"event":"deliveryFailure"}]},
	  {"name":"keep","type":"set-variables","properties":{"variables":[{"key":"name","value":"{{widgets.ask.inbound.Body}}"}]},"transitions":[{"event":"next"}]}]}`
	spec := worldSpec{Subflows: map[string]json.RawMessage{"FW2": json.RawMessage(sub)}}
	// Seed with real states: waiting in the subflow, and in the parent.
	w := newWorld(f, spec)
	def, err := w.engine.Read(context.Background(), []byte(parent))
	if err != nil {
		f.Fatal(err)
	}
	res, err := w.engine.Start(context.Background(), def, (&triggerSpec{}).trigger())
	if err != nil {
		f.Fatal(err)
	}
	inSub, _ := json.Marshal(res.Execution)
	f.Add(inSub, true)
	if res, err = w.engine.Resume(context.Background(), def, res.Execution, Resume{Kind: ResumeReply, Conversation: &ConversationMessage{Body: "Ann"}}); err != nil {
		f.Fatal(err)
	}
	inParent, _ := json.Marshal(res.Execution)
	f.Add(inParent, false)
	f.Add([]byte(`{"status":"active","wait":{"widget":"ask"},"subflow":{"widget":"sub","flow_sid":"FW2"}}`), true)
	f.Add([]byte(`{"status":"active","wait":{"widget":"ask"},"context":{"widgets":{"sub":7}}}`), false)
	f.Fuzz(func(t *testing.T, state []byte, reply bool) {
		var x Execution
		if err := json.Unmarshal(state, &x); err != nil {
			return
		}
		w := newWorld(t, spec)
		w.clock.Advance(24 * time.Hour)
		ev := Resume{Kind: ResumeTimeout}
		if reply {
			ev = Resume{Kind: ResumeReply, Conversation: &ConversationMessage{Body: "yes"}}
		}
		_, _ = w.engine.Resume(context.Background(), def, &x, ev)
	})
}
