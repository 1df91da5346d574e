package engine

import (
	"encoding/json"
	"time"
)

// Execution statuses and ended reasons (studio.md §6.5, §6.7).
const (
	StatusActive = "active"
	StatusEnded  = "ended"

	EndedFlowEnd    = "FLOW_END"    // an unconnected transition was taken
	EndedAPI        = "API"         // ended through the API (End)
	EndedMaxSteps   = "MAX_STEPS"   // 81000
	EndedWidgetLoop = "WIDGET_LOOP" // 81001
	EndedLifetime   = "LIFETIME"    // 30 days (End, called by FlowService's timer)
	EndedError      = "ERROR"       // a widget that cannot run here and has no failure event

	// StepEnded is transitioned_to of the step that ends the execution.
	StepEnded = "Ended"
)

// Execution is the whole state of one run of a flow. It marshals to JSON
// and back without loss, so FlowService persists it between events and any
// replica can resume it. The engine mutates the *Execution it is given.
type Execution struct {
	Sid          string `json:"sid"`
	FlowSid      string `json:"flow_sid"`
	FlowRevision int    `json:"flow_revision,omitempty"`
	Status       string `json:"status"`
	// EndedReason, EndedCode and EndedError say why an ended execution ended.
	EndedReason string `json:"ended_reason,omitempty"`
	EndedCode   int    `json:"ended_code,omitempty"`
	EndedError  string `json:"ended_error,omitempty"`
	// TriggerEvent is the trigger's event (incomingConversationMessage, …).
	TriggerEvent string `json:"trigger_event"`
	// ConversationSid is set for executions that run in a conversation:
	// messages are posted into it.
	ConversationSid string `json:"conversation_sid,omitempty"`
	// Context is the Liquid context (trigger, flow, contact, widgets). Inside
	// a subflow it is the subflow's; the parent's waits in Subflow. A zero
	// Context is left out, for a caller that stores the context apart.
	Context Context `json:"context,omitzero"`
	// StepCount counts the steps recorded so far, subflow steps included.
	StepCount   int    `json:"step_count"`
	LastStepSid string `json:"last_step_sid,omitempty"`
	// LastWidget and Repeats track the same widget running in a row.
	LastWidget string `json:"last_widget,omitempty"`
	Repeats    int    `json:"repeats,omitempty"`
	// Wait is set while the execution waits for an event.
	Wait *Wait `json:"wait,omitempty"`
	// Subflow is set while a run-subflow widget's subflow runs.
	Subflow     *Frame    `json:"subflow,omitempty"`
	DateCreated time.Time `json:"date_created"`
	DateUpdated time.Time `json:"date_updated"`
}

// Wait says what an execution waits for.
type Wait struct {
	// Widget is the waiting widget (a send-and-wait-for-reply), in the
	// subflow when Subflow is set.
	Widget string `json:"widget"`
	// Until is when the wait times out: FlowService arms a timer and calls
	// Resume with a timeout then.
	Until time.Time `json:"until"`
	// Subflow is the subflow's flow SID when the widget is inside one.
	Subflow string `json:"subflow,omitempty"`
}

// Frame is a subflow in progress.
type Frame struct {
	// Widget is the parent's run-subflow widget.
	Widget   string `json:"widget"`
	FlowSid  string `json:"flow_sid"`
	Revision int    `json:"revision"`
	// Parent is the parent's context, restored when the subflow ends.
	Parent        Context `json:"parent"`
	ParentStepSid string  `json:"parent_step_sid,omitempty"`
}

// Context is the Liquid context of an execution (studio.md §3).
type Context struct {
	Trigger map[string]any `json:"trigger"`
	Flow    FlowContext    `json:"flow"`
	Contact ContactContext `json:"contact"`
	// Widgets maps a widget name to its outputs (widgets.NAME.*).
	Widgets map[string]any `json:"widgets"`
}

// FlowContext is flow.*.
type FlowContext struct {
	FlowSid   string         `json:"flow_sid"`
	Sid       string         `json:"sid"` // the execution SID
	Channel   Channel        `json:"channel"`
	Data      map[string]any `json:"data"`
	Variables map[string]any `json:"variables"`
}

// ContactContext is contact.*.
type ContactContext struct {
	Channel Channel `json:"channel"`
}

// Channel is flow.channel / contact.channel.
type Channel struct {
	Address string `json:"address"`
}

// vars builds the map Liquid renders against.
func (c *Context) vars() map[string]any {
	return map[string]any{
		"trigger": c.Trigger,
		"flow": map[string]any{
			"flow_sid":  c.Flow.FlowSid,
			"sid":       c.Flow.Sid,
			"channel":   map[string]any{"address": c.Flow.Channel.Address},
			"data":      c.Flow.Data,
			"variables": c.Flow.Variables,
		},
		"contact": map[string]any{"channel": map[string]any{"address": c.Contact.Channel.Address}},
		"widgets": c.Widgets,
	}
}

// fill makes the context's missing maps empty, since the engine writes
// into trigger, widgets, flow.data and flow.variables.
func (c *Context) fill() {
	for _, m := range [...]*map[string]any{&c.Trigger, &c.Widgets, &c.Flow.Data, &c.Flow.Variables} {
		if *m == nil {
			*m = map[string]any{}
		}
	}
}

// Step is one transition, the engine's ExecutionStep (studio.md §6.6).
type Step struct {
	Sid          string `json:"sid"`
	ExecutionSid string `json:"execution_sid"`
	// FlowSid is the flow whose widget ran: the subflow's inside a subflow.
	FlowSid string `json:"flow_sid"`
	// ParentStepSid is set on steps inside a subflow: the parent's last
	// step before the run-subflow widget started it.
	ParentStepSid string `json:"parent_step_sid,omitempty"`
	// Number counts from 1 across the execution.
	Number int `json:"number"`
	// Name is the event that caused the transition.
	Name             string `json:"name"`
	TransitionedFrom string `json:"transitioned_from"`
	TransitionedTo   string `json:"transitioned_to"`
	// Type is the widget type of TransitionedFrom.
	Type string `json:"type"`
	// Context is the execution context after the widget ran.
	Context     json.RawMessage `json:"context"`
	Error       *StepError      `json:"error,omitempty"`
	DateCreated time.Time       `json:"date_created"`
}

// Result is what Start, Resume and End give back: what the caller must
// persist.
type Result struct {
	// Execution is the new state (the same pointer Resume was given).
	Execution *Execution
	// Steps are the steps recorded by this call, in order.
	Steps []Step
	// Wait is non-nil when the execution now waits: FlowService arms a timer
	// for Wait.Until. Nil when the execution ended.
	Wait *Wait
}

// Ended reports whether the execution has ended.
func (r *Result) Ended() bool { return r.Execution.Status == StatusEnded }

// normalize turns json.Number leaves into int64 or float64, recursively.
func normalize(m map[string]any) {
	for k, e := range m {
		m[k] = normalizeValue(e)
	}
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeValue(e)
		}
	}
	return v
}
