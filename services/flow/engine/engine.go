package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	_ "time/tzdata" // the default Liquid timezone must load in scratch images too

	"github.com/convoflow/convoflow/services/flow/engine/liquid"
)

// DefaultTimezone is the Liquid date timezone when Options.Location is nil:
// Studio documents PST (studio.md §5).
const DefaultTimezone = "America/Los_Angeles"

// Options are the engine's dependencies. Clock, IDs and Messenger are
// required; the others are optional and the widgets that need them take
// their failure event when they are missing.
type Options struct {
	Clock     Clock
	IDs       IDGen
	Messenger Messenger
	// HTTP serves run-function and make-http-request.
	HTTP HTTPDoer
	// Subflows resolves run-subflow references.
	Subflows SubflowResolver
	// Flex hands conversations to Flex for send-to-flex.
	Flex FlexHandoff
	// Location is the timezone of Liquid's date filter; nil means
	// DefaultTimezone.
	Location *time.Location
}

// Engine runs flow definitions. It holds no execution state and is safe
// for concurrent use; the Liquid template cache is shared by all runs.
type Engine struct {
	opts   Options
	liquid *liquid.Renderer
}

// New builds an engine.
func New(opts Options) (*Engine, error) {
	switch {
	case opts.Clock == nil:
		return nil, errors.New("engine: Options.Clock is required")
	case opts.IDs == nil:
		return nil, errors.New("engine: Options.IDs is required")
	case opts.Messenger == nil:
		return nil, errors.New("engine: Options.Messenger is required")
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation(DefaultTimezone)
		if err != nil {
			return nil, fmt.Errorf("engine: loading %s: %w", DefaultTimezone, err)
		}
		opts.Location = loc
	}
	return &Engine{
		opts:   opts,
		liquid: liquid.New(liquid.Options{Location: opts.Location, Now: opts.Clock.Now}),
	}, nil
}

// Start creates an execution of def from a trigger and runs it until it
// waits or ends. def must be valid (Validate); Start re-checks its structure
// once per definition and returns ErrInvalidDefinition otherwise.
//
// A returned error is an infrastructure fault (a cancelled context, a
// subflow resolver failure): nothing of the call must be persisted, and
// replaying it is safe because sends carry idempotency keys.
func (e *Engine) Start(ctx context.Context, def *Definition, t *Trigger) (*Result, error) {
	return e.start(ctx, def, t, nil)
}

// start is Start with a hook that may change the new context before the
// first widget runs (the widget fixtures seed variables and outputs).
func (e *Engine) start(ctx context.Context, def *Definition, t *Trigger, seed func(*Context)) (*Result, error) {
	if err := e.compile(def); err != nil {
		return nil, err
	}
	sid := t.ExecutionSid
	if sid == "" {
		sid = e.opts.IDs.NewSID("FN")
	} else if !isSID("FN", sid) {
		return nil, fmt.Errorf("engine: Trigger.ExecutionSid %q is not FN followed by 32 hex digits", sid)
	}
	now := e.opts.Clock.Now()
	x := &Execution{
		Sid:          sid,
		FlowSid:      t.FlowSid,
		FlowRevision: t.FlowRevision,
		Status:       StatusActive,
		TriggerEvent: t.Event,
		DateCreated:  now,
		DateUpdated:  now,
	}
	c, conversation, err := newContext(t, x.Sid)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	x.Context, x.ConversationSid = c, conversation
	if seed != nil {
		seed(&x.Context)
	}
	r := &run{e: e, ctx: ctx, x: x, root: def, def: def, res: &Result{Execution: x}}
	first := def.State(def.InitialState)
	if first.Type == TypeTrigger {
		err = r.advance(first, t.Event, nil, nil)
	} else {
		// Not a Console shape, but a valid one: start at the widget itself.
		err = r.enter(first)
	}
	if err != nil {
		return nil, err
	}
	return r.finish(), nil
}

// Resume delivers a reply or a timeout to a waiting execution and runs it
// until it waits again or ends. It mutates x. def is the execution's flow
// definition (the revision it started with); a wait inside a subflow
// reloads the subflow through the SubflowResolver.
func (e *Engine) Resume(ctx context.Context, def *Definition, x *Execution, ev Resume) (*Result, error) {
	if err := e.compile(def); err != nil {
		return nil, err
	}
	if x.Status == StatusEnded {
		return nil, ErrEnded
	}
	w := x.Wait
	if w == nil {
		return nil, ErrNotWaiting
	}
	if ev.Widget != "" && ev.Widget != w.Widget {
		return nil, fmt.Errorf("%w in %s (it waits in %s)", ErrNotWaiting, ev.Widget, w.Widget)
	}
	// A state without "context" never reached Context.UnmarshalJSON.
	x.Context.fill()
	if x.Subflow != nil {
		x.Subflow.Parent.fill()
	}
	r := &run{e: e, ctx: ctx, x: x, root: def, def: def, res: &Result{Execution: x}}
	if x.Subflow != nil {
		if ps := def.State(x.Subflow.Widget); ps == nil || ps.Type != TypeRunSubflow {
			return nil, fmt.Errorf("engine: execution %s runs a subflow from %q, which the definition does not have as a run-subflow", x.Sid, x.Subflow.Widget)
		}
		sub, err := e.resolve(ctx, x.Subflow.FlowSid, strconv.Itoa(x.Subflow.Revision))
		if err != nil {
			return nil, fmt.Errorf("engine: reloading subflow %s revision %d: %w", x.Subflow.FlowSid, x.Subflow.Revision, err)
		}
		r.def = sub.Definition
	}
	s := r.def.State(w.Widget)
	if s == nil || s.Type != TypeSendAndWaitForReply {
		return nil, fmt.Errorf("engine: execution %s waits in %q, which the definition does not have as a send-and-wait-for-reply", x.Sid, w.Widget)
	}
	var event string
	switch ev.Kind {
	case ResumeReply:
		out := map[string]any{}
		if prev, ok := x.Context.Widgets[s.Name].(map[string]any); ok {
			for k, v := range prev {
				out[k] = v
			}
		}
		switch {
		case ev.Conversation != nil:
			out["inbound"] = ev.Conversation.inboundFields()
		case ev.Message != nil:
			out["inbound"] = stringMap(ev.Message)
		default:
			return nil, errors.New("engine: a reply needs Conversation or Message")
		}
		x.Context.Widgets[s.Name] = out
		event = "incomingMessage"
	case ResumeTimeout:
		if e.opts.Clock.Now().Before(w.Until) {
			return nil, fmt.Errorf("%w (until %s)", ErrTimeoutNotDue, w.Until.Format(time.RFC3339))
		}
		event = "timeout"
	default:
		return nil, fmt.Errorf("engine: unknown resume kind %q", ev.Kind)
	}
	x.Wait = nil
	x.DateUpdated = e.opts.Clock.Now()
	if err := r.advance(s, event, nil, nil); err != nil {
		return nil, err
	}
	return r.finish(), nil
}

// End ends an active execution from outside: reason is EndedAPI or
// EndedLifetime. It records no step.
func (e *Engine) End(x *Execution, reason string) (*Result, error) {
	if x.Status == StatusEnded {
		return nil, ErrEnded
	}
	if reason != EndedAPI && reason != EndedLifetime {
		return nil, fmt.Errorf("engine: End takes %s or %s, not %q", EndedAPI, EndedLifetime, reason)
	}
	r := &run{e: e, x: x, res: &Result{Execution: x}}
	r.end(reason, 0, "")
	return r.finish(), nil
}

func (e *Engine) resolve(ctx context.Context, flowSid, revision string) (*Subflow, error) {
	if e.opts.Subflows == nil {
		return nil, fmt.Errorf("%w: no subflow resolver is configured", ErrSubflowNotFound)
	}
	sub, err := e.opts.Subflows.ResolveSubflow(ctx, flowSid, revision)
	if err != nil {
		return nil, err
	}
	if sub == nil || sub.Definition == nil {
		return nil, fmt.Errorf("%w: resolver returned no definition", ErrSubflowNotFound)
	}
	if err := e.compile(sub.Definition); err != nil {
		return nil, err
	}
	return sub, nil
}

// run is one Start or Resume call in progress.
type run struct {
	e    *Engine
	ctx  context.Context
	x    *Execution
	root *Definition // the execution's flow
	def  *Definition // the flow being run: root or the current subflow
	res  *Result

	// vars are the Liquid variables. They hold the context's maps by
	// reference, so they stay current as widgets write outputs and
	// variables; they are rebuilt only when the context is swapped for a
	// subflow's or the parent's.
	vars map[string]any
	snap snapshots // step context encoder
}

func (r *run) finish() *Result {
	r.res.Wait = r.x.Wait
	return r.res
}

// pending is a transition to record: from --event--> (looked up), with
// the split's chosen transition in via.
type pending struct {
	from  *State
	event string
	err   *StepError
	via   *Transition
}

// advance records the step "from --event--> next" and keeps running
// widgets until the execution waits or ends.
func (r *run) advance(from *State, event string, serr *StepError, via *Transition) error {
	p := pending{from: from, event: event, err: serr, via: via}
	for {
		next := r.next(p.from, p.event, p.via)
		to := StepEnded
		if next != nil {
			to = next.Name
		}
		if err := r.step(p.from, p.event, to, p.err); err != nil {
			return err
		}
		if next == nil {
			if r.x.Subflow != nil {
				p = r.leave("completed", nil)
				continue
			}
			r.end(EndedFlowEnd, 0, "")
			return nil
		}
		var done bool
		var err error
		if p, done, err = r.execute(next); done || err != nil {
			return err
		}
	}
}

// enter runs the first widget of a definition whose initial state is not a
// trigger: no transition leads to it, so no step precedes it.
func (r *run) enter(s *State) error {
	p, done, err := r.execute(s)
	if done || err != nil {
		return err
	}
	return r.advance(p.from, p.event, p.err, p.via)
}

// execute runs one widget and returns the transition it takes, or done
// when the execution now waits or has ended.
func (r *run) execute(s *State) (p pending, done bool, err error) {
	out, err := r.runWidget(s)
	switch {
	case err != nil:
		return p, true, err
	case out == nil: // a limit ended the execution
		return p, true, nil
	case out.wait:
		r.x.Wait = &Wait{Widget: s.Name, Until: r.e.opts.Clock.Now().Add(time.Duration(out.timeout) * time.Second)}
		if r.x.Subflow != nil {
			r.x.Wait.Subflow = r.x.Subflow.FlowSid
		}
		return p, true, nil
	case out.enter != nil:
		r.enterSubflow(s, out.enter)
		first := r.def.State(r.def.InitialState)
		if first.Type == TypeTrigger {
			return pending{from: first, event: EventIncomingParent}, false, nil
		}
		return r.execute(first)
	case out.endErr != nil:
		// The widget cannot go on and has no event for it: its step ends
		// the branch.
		if err := r.step(s, "failed", StepEnded, out.endErr); err != nil {
			return p, true, err
		}
		if r.x.Subflow != nil {
			// Inside a subflow, the parent's run-subflow widget fails.
			return r.leave("failed", out.endErr), false, nil
		}
		r.end(EndedError, out.endErr.Code, out.endErr.Message)
		return p, true, nil
	}
	return pending{from: s, event: out.event, err: out.err, via: out.via}, false, nil
}

// next finds the state an event leads to; nil when unconnected. via is the
// transition a split chose, since several carry the event "match".
func (r *run) next(s *State, event string, via *Transition) *State {
	if via != nil {
		if via.Next == "" {
			return nil
		}
		return r.def.State(via.Next)
	}
	for _, t := range s.Transitions {
		if t.Event == event {
			if t.Next == "" {
				return nil
			}
			return r.def.State(t.Next)
		}
	}
	return nil
}

// runWidget applies the limits, runs the widget and stores its outputs.
// A nil outcome means a limit ended the execution.
func (r *run) runWidget(s *State) (*outcome, error) {
	if r.x.StepCount >= MaxSteps {
		r.end(EndedMaxSteps, CodeMaxSteps, fmt.Sprintf("execution exceeded the maximum of %d steps", MaxSteps))
		return nil, nil
	}
	if r.x.LastWidget == s.Name {
		r.x.Repeats++
	} else {
		r.x.LastWidget, r.x.Repeats = s.Name, 1
	}
	if r.x.Repeats > MaxWidgetRepeats {
		r.end(EndedWidgetLoop, CodeWidgetLoop, fmt.Sprintf("widget %s ran more than %d times in a row", s.Name, MaxWidgetRepeats))
		return nil, nil
	}
	out := s.widget.run(r, s)
	if out.fault != nil {
		return nil, out.fault
	}
	if out.outputs != nil {
		r.x.Context.Widgets[s.Name] = out.outputs
	}
	return &out, nil
}

// step records one transition.
func (r *run) step(from *State, event, to string, serr *StepError) error {
	ctxJSON, err := r.snap.encode(&r.x.Context)
	if err != nil {
		return fmt.Errorf("engine: snapshotting the context: %w", err)
	}
	r.x.StepCount++
	now := r.e.opts.Clock.Now()
	st := Step{
		Sid:              r.e.opts.IDs.NewSID("FT"),
		ExecutionSid:     r.x.Sid,
		FlowSid:          r.x.FlowSid,
		Number:           r.x.StepCount,
		Name:             event,
		TransitionedFrom: from.Name,
		TransitionedTo:   to,
		Type:             from.Type,
		Context:          ctxJSON,
		Error:            serr,
		DateCreated:      now,
	}
	if f := r.x.Subflow; f != nil {
		st.FlowSid = f.FlowSid
		st.ParentStepSid = f.ParentStepSid
	}
	r.x.LastStepSid = st.Sid
	r.x.DateUpdated = now
	r.res.Steps = append(r.res.Steps, st)
	return nil
}

func (r *run) end(reason string, code int, msg string) {
	if f := r.x.Subflow; f != nil {
		// A limit reached inside a subflow ends the whole execution: its
		// context is the parent's again, as when a subflow returns.
		r.x.Context = f.Parent
		r.def, r.vars = r.root, nil
	}
	r.x.Status = StatusEnded
	r.x.EndedReason, r.x.EndedCode, r.x.EndedError = reason, code, msg
	r.x.Wait = nil
	r.x.Subflow = nil
	r.x.DateUpdated = r.e.opts.Clock.Now()
}

// subflowEntry is a run-subflow widget's request to start its subflow.
type subflowEntry struct {
	flowSid string
	sub     *Subflow
	params  map[string]any
}

func (r *run) enterSubflow(s *State, in *subflowEntry) {
	parent := r.x.Context
	trigger := copyJSON(parent.Trigger)
	trigger["parent"] = map[string]any{
		"parameters":    in.params,
		"execution_sid": r.x.Sid,
		"flow_sid":      parent.Flow.FlowSid,
		"step_sid":      r.x.LastStepSid,
		"trigger_type":  r.x.TriggerEvent,
	}
	subSid := in.flowSid
	r.x.Subflow = &Frame{Widget: s.Name, FlowSid: subSid, Revision: in.sub.Revision, Parent: parent, ParentStepSid: r.x.LastStepSid}
	r.x.Context = Context{
		Trigger: trigger,
		Flow: FlowContext{
			FlowSid:   subSid,
			Sid:       r.x.Sid,
			Channel:   parent.Flow.Channel,
			Data:      copyJSON(parent.Flow.Data),
			Variables: map[string]any{},
		},
		Contact: parent.Contact,
		Widgets: map[string]any{},
	}
	r.def = in.sub.Definition
	r.vars = nil
}

// leave ends the current subflow and returns the parent's run-subflow
// widget with its event: its outputs are the subflow's variables, flat.
func (r *run) leave(event string, serr *StepError) pending {
	f := r.x.Subflow
	vars := r.x.Context.Flow.Variables
	r.x.Context = f.Parent
	r.x.Subflow = nil
	r.def = r.root
	r.vars = nil
	out := map[string]any{}
	for k, v := range vars {
		out[k] = v
	}
	r.x.Context.Widgets[f.Widget] = out
	return pending{from: r.def.State(f.Widget), event: event, err: serr}
}

// render renders a Liquid template against the current context.
func (r *run) render(src string) (string, error) {
	if !hasLiquid(src) {
		return src, nil
	}
	if r.vars == nil {
		r.vars = r.x.Context.vars()
	}
	return r.e.liquid.Render(src, r.vars)
}

// renderAll renders several properties; the first failure is returned as
// an 84003 step error (the liquid package's error names the template).
func (r *run) renderAll(fields ...*string) *StepError {
	for _, f := range fields {
		out, err := r.render(*f)
		if err != nil {
			return stepErr(CodeLiquidRenderFailed, "unable to render: %v", err)
		}
		*f = out
	}
	return nil
}

// idempotencyKey is deterministic per send: the step number the widget's
// run will record is unique within the execution.
func (r *run) idempotencyKey() string {
	return r.x.Sid + "/" + strconv.Itoa(r.x.StepCount+1)
}

// cancelled reports an infrastructure fault when the caller's context is
// done: the widget must not be recorded as failed for that.
func (r *run) cancelled() error {
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}
