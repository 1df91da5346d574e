package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// widgetCase is one case of testdata/widgets/<type>.json: a widget run
// from a trigger, with its injected answers and what must come out.
type widgetCase struct {
	Description string          `json:"description"`
	Widget      json.RawMessage `json:"widget"`
	// States are more widgets the case's flow holds (targets of connected
	// transitions).
	States  []json.RawMessage `json:"states,omitempty"`
	Trigger *triggerSpec      `json:"trigger,omitempty"`
	// Variables and Widgets seed flow.variables and widgets.* before the
	// widget runs.
	Variables map[string]any `json:"variables,omitempty"`
	Widgets   map[string]any `json:"widgets,omitempty"`
	Resumes   []resumeSpec   `json:"resumes,omitempty"`
	// DeleteSubflows are removed from the resolver after validation: the
	// subflow disappeared between publishing and running.
	DeleteSubflows []string `json:"delete_subflows,omitempty"`
	worldSpec
	Expect json.RawMessage `json:"expect"`
}

// triggerSpec is a Trigger in fixture form. The default is a conversation
// message "hello" in CH…1 from +15550001111.
type triggerSpec struct {
	Event          string               `json:"event,omitempty"`
	Conversation   *ConversationMessage `json:"conversation,omitempty"`
	Message        map[string]string    `json:"message,omitempty"`
	Request        *Request             `json:"request,omitempty"`
	FlowAddress    string               `json:"flow_address,omitempty"`
	ContactAddress string               `json:"contact_address,omitempty"`
}

const testFlowSid = "FW00000000000000000000000000000001"

func (t *triggerSpec) trigger() *Trigger {
	if t == nil {
		t = &triggerSpec{}
	}
	tr := &Trigger{FlowSid: testFlowSid, FlowRevision: 1, Event: t.Event, Conversation: t.Conversation, Message: t.Message, Request: t.Request,
		FlowAddress: t.FlowAddress, ContactAddress: t.ContactAddress}
	if tr.Event == "" {
		switch {
		case t.Message != nil:
			tr.Event = EventIncomingMessage
		case t.Request != nil:
			tr.Event = EventIncomingRequest
		default:
			tr.Event = EventIncomingConversationMessage
		}
	}
	if tr.Event == EventIncomingConversationMessage && tr.Conversation == nil {
		tr.Conversation = &ConversationMessage{
			AccountSid: "AC00000000000000000000000000000001", ConversationSid: "CH00000000000000000000000000000001",
			MessageSid: "IM00000000000000000000000000000001", ParticipantSid: "MB00000000000000000000000000000001",
			Author: "+15550001111", Body: "hello", Attributes: "{}", Source: "SMS", Index: 0,
			DateCreated: testStart,
		}
	}
	return tr
}

// resumeSpec is a Resume in fixture form, after advancing the clock.
type resumeSpec struct {
	AdvanceSeconds int                  `json:"advance_seconds,omitempty"`
	Kind           string               `json:"kind"`
	Widget         string               `json:"widget,omitempty"`
	Conversation   *ConversationMessage `json:"conversation,omitempty"`
	Message        map[string]string    `json:"message,omitempty"`
	// Error is the Resume error expected, "" for none.
	Error string `json:"error,omitempty"`
}

// widgetResult is what a widget case checks.
type widgetResult struct {
	// Steps lists every step, or the first and last 10 of a long run.
	Steps       []stepView        `json:"steps"`
	StepCount   int               `json:"step_count"`
	Outputs     any               `json:"outputs"`
	Variables   map[string]any    `json:"variables,omitempty"`
	Status      string            `json:"status"`
	EndedReason string            `json:"ended_reason,omitempty"`
	EndedError  string            `json:"ended_error,omitempty"`
	Wait        *Wait             `json:"wait,omitempty"`
	Messages    []sentMessage     `json:"messages,omitempty"`
	HTTP        []recordedRequest `json:"http_requests,omitempty"`
	Flex        []FlexRequest     `json:"flex_requests,omitempty"`
	ResumeErrs  []string          `json:"resume_errors,omitempty"`
}

// TestWidgetTypes runs testdata/widgets/<type>.json for every registered
// widget type; a type without a fixture file fails.
func TestWidgetTypes(t *testing.T) {
	t.Parallel()
	for _, typ := range WidgetTypes() {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "widgets", typ+".json")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("widget type %s has no fixture: %v", typ, err)
			}
			var cases []widgetCase
			if err := json.Unmarshal(data, &cases); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if len(cases) == 0 {
				t.Fatalf("%s holds no cases", path)
			}
			for i := range cases {
				c := &cases[i]
				got := runWidgetCase(t, typ, c)
				if *update {
					b, err := json.Marshal(got)
					if err != nil {
						t.Fatal(err)
					}
					c.Expect = b
					continue
				}
				var want widgetResult
				if err := json.Unmarshal(c.Expect, &want); err != nil {
					t.Fatalf("case %q: bad expect: %v", c.Description, err)
				}
				if d := jsonDiff(t, want, got); d != "" {
					t.Errorf("case %q (-want +got):\n%s", c.Description, d)
				}
			}
			if *update {
				writeJSON(t, path, cases)
			}
		})
	}
}

func runWidgetCase(t *testing.T, typ string, c *widgetCase) widgetResult {
	t.Helper()
	w := newWorld(t, c.worldSpec)
	var head struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(c.Widget, &head); err != nil {
		t.Fatalf("case %q: %v", c.Description, err)
	}
	if head.Type != typ {
		t.Fatalf("case %q: widget type %q in the %s fixture", c.Description, head.Type, typ)
	}
	tr := c.Trigger.trigger()
	states := []json.RawMessage{c.Widget}
	initial := head.Name
	if typ != TypeTrigger {
		trig := map[string]any{
			"name": "Trigger", "type": "trigger",
			"transitions": []map[string]string{{"event": tr.Event, "next": head.Name}},
			"properties":  map[string]any{"offset": map[string]int{"x": 0, "y": 0}},
		}
		b, _ := json.Marshal(trig)
		states = append([]json.RawMessage{b}, states...)
		initial = "Trigger"
	}
	states = append(states, c.States...)
	defJSON, _ := json.Marshal(map[string]any{"description": c.Description, "states": states, "initial_state": initial,
		"flags": map[string]bool{"allow_concurrent_calls": true}})
	def, err := w.engine.Read(t.Context(), defJSON)
	if err != nil {
		t.Fatalf("case %q: definition: %v", c.Description, err)
	}
	for _, sid := range c.DeleteSubflows {
		delete(w.subflows.flows, sid)
	}
	res, err := w.engine.start(t.Context(), def, tr, func(ctx *Context) {
		for k, v := range copyJSON(c.Variables) {
			ctx.Flow.Variables[k] = v
		}
		for k, v := range copyJSON(c.Widgets) {
			ctx.Widgets[k] = v
		}
	})
	if err != nil {
		t.Fatalf("case %q: Start: %v", c.Description, err)
	}
	steps := res.Steps
	x := res.Execution
	var resumeErrs []string
	for _, rs := range c.Resumes {
		x = persist(t, x)
		w.clock.Advance(time.Duration(rs.AdvanceSeconds) * time.Second)
		r, err := w.engine.Resume(t.Context(), def, x, Resume{Kind: rs.Kind, Widget: rs.Widget, Conversation: rs.Conversation, Message: rs.Message})
		if err != nil {
			resumeErrs = append(resumeErrs, err.Error())
			continue
		}
		steps = append(steps, r.Steps...)
	}
	got := widgetResult{
		Steps:       shortSteps(viewSteps(steps, testFlowSid)),
		StepCount:   len(steps),
		Outputs:     summarize(x.Context.Widgets[head.Name]),
		Variables:   x.Context.Flow.Variables,
		Status:      x.Status,
		EndedReason: x.EndedReason,
		EndedError:  x.EndedError,
		Wait:        x.Wait,
		Messages:    w.messenger.sent,
		HTTP:        w.http.requests,
		ResumeErrs:  resumeErrs,
	}
	if len(got.Variables) == 0 {
		got.Variables = nil
	}
	if w.flex != nil {
		got.Flex = w.flex.requests
	}
	return got
}

// summarize replaces strings longer than 200 bytes with their length, so
// fixtures of 64 kB bodies stay readable.
func summarize(v any) any {
	switch x := v.(type) {
	case string:
		if len(x) > 200 {
			return fmt.Sprintf("<%d bytes: %s…>", len(x), x[:20])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = summarize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = summarize(e)
		}
		return out
	}
	return v
}
