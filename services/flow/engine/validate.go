package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/convoflow/convoflow/services/flow/engine/predicate"
)

// Subflow limits per parent flow (studio.md §2.3).
const (
	MaxSubflowWidgets   = 150
	MaxDistinctSubflows = 50
)

// validation collects problems, and with lint set warnings too.
type validation struct {
	e        *Engine
	problems []Problem
	lint     bool
	warnings []Problem
}

func (v *validation) add(path string, code int, format string, args ...any) {
	v.problems = append(v.problems, Problem{PropertyPath: path, Message: fmt.Sprintf(format, args...), Code: code})
}

// Validate checks a parsed definition and returns nil or a
// *ValidationError listing every problem (errors.Is(err,
// ErrInvalidDefinition)). It resolves run-subflow references through the
// SubflowResolver when one is configured; a resolver failure other than
// ErrSubflowNotFound is returned as is, since it is not the definition's
// fault.
func (e *Engine) Validate(ctx context.Context, d *Definition) error {
	_, err := e.validate(ctx, d, false)
	return err
}

// Check is Validate that also returns, for a valid definition, what is
// worth fixing in it, in property-path order: Liquid filters the renderer
// does not have (the widget fails with 84003 when it applies one). Both
// come from one pass over the definition.
func (e *Engine) Check(ctx context.Context, d *Definition) (warnings []Problem, err error) {
	return e.validate(ctx, d, true)
}

func (e *Engine) validate(ctx context.Context, d *Definition, lint bool) ([]Problem, error) {
	v := &validation{e: e, lint: lint}
	widgets := v.structure(d)
	if err := v.subflows(ctx, d, widgets); err != nil {
		return nil, err
	}
	if len(v.problems) > 0 {
		sortProblems(v.problems)
		return nil, &ValidationError{Problems: v.problems}
	}
	sortProblems(v.warnings)
	return v.warnings, nil
}

// Read parses and validates a definition.
func (e *Engine) Read(ctx context.Context, data []byte) (*Definition, error) {
	d, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := e.Validate(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// compile decodes every widget once per definition; Start and Resume refuse
// a definition with structural problems.
func (e *Engine) compile(d *Definition) error {
	d.compileOnce.Do(func() {
		v := &validation{e: e}
		widgets := v.structure(d)
		if len(v.problems) > 0 {
			d.compileErr = &ValidationError{Problems: v.problems}
			return
		}
		for i, s := range d.States {
			s.widget = widgets[i]
		}
	})
	return d.compileErr
}

// structure runs every check that needs no I/O and returns the decoded
// widgets by state index (nil where the type is unknown).
func (v *validation) structure(d *Definition) []widget {
	v.problems = append(v.problems, d.problems...)
	switch {
	case len(d.States) == 0:
		v.add("#/states", CodeInvalidDefinition, "states must hold at least one widget")
	case len(d.States) > MaxStates:
		v.add("#/states", CodeInvalidDefinition, "a flow may have at most %d widgets, this one has %d", MaxStates, len(d.States))
	}
	if d.InitialState == "" {
		v.add("#/initial_state", CodeInvalidDefinition, "initial_state is required")
	} else if d.State(d.InitialState) == nil {
		v.add("#/initial_state", CodeInvalidDefinition, "initial_state %q names no widget", d.InitialState)
	}
	if d.Flags != nil {
		var flags map[string]json.RawMessage
		if err := json.Unmarshal(d.Flags, &flags); err != nil {
			v.add("#/flags", CodeInvalidDefinition, "flags must be an object")
		} else if r, ok := flags["allow_concurrent_calls"]; !ok {
			v.add("#/flags/allow_concurrent_calls", CodeInvalidDefinition, "allow_concurrent_calls is required when flags is present")
		} else if _, err := parseFlag(r); err != nil {
			v.add("#/flags/allow_concurrent_calls", CodeInvalidDefinition, "allow_concurrent_calls must be a boolean")
		}
	}
	widgets := make([]widget, len(d.States))
	seen := make(map[string]int, len(d.States))
	for i, s := range d.States {
		path := fmt.Sprintf("#/states/%d", i)
		if s.raw == nil || v.has(path+"/transitions") {
			continue // not an object, or no usable transitions: reported by Parse
		}
		switch {
		case v.has(path + "/name"):
		case s.Name == "":
			v.add(path+"/name", CodeInvalidDefinition, "name is required")
		case !validName(s.Name):
			v.add(path+"/name", CodeInvalidDefinition, "widget name %q must start with a letter and contain no spaces or periods", s.Name)
		}
		if j, dup := seen[s.Name]; dup && s.Name != "" {
			v.add(path+"/name", CodeInvalidDefinition, "duplicate widget name %q (also #/states/%d)", s.Name, j)
		} else {
			seen[s.Name] = i
		}
		if s.Type == "" {
			if !v.has(path + "/type") {
				v.add(path+"/type", CodeInvalidDefinition, "type is required")
			}
			continue
		}
		if v.has(path + "/properties") {
			continue // properties is not an object: reported by Parse
		}
		w, problems := readWidget(s, path)
		v.problems = append(v.problems, problems...)
		widgets[i] = w
		if w == nil {
			continue
		}
		if c, ok := w.(checker); ok && len(problems) == 0 {
			c.check(v, path+"/properties")
		}
		v.transitions(d, s, path)
		v.liquidProps(s, path+"/properties")
	}
	return widgets
}

// has reports whether a problem was already reported at path, so one
// mistake is not reported twice.
func (v *validation) has(path string) bool {
	for _, p := range v.problems {
		if p.PropertyPath == path {
			return true
		}
	}
	return false
}

// sortProblems orders problems by path, numeric tokens numerically, so
// they read in the order of the definition.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		ta, tb := strings.Split(a.PropertyPath, "/"), strings.Split(b.PropertyPath, "/")
		for i := 0; i < len(ta) && i < len(tb); i++ {
			if ta[i] == tb[i] {
				continue
			}
			na, ea := strconv.Atoi(ta[i])
			nb, eb := strconv.Atoi(tb[i])
			if ea == nil && eb == nil {
				return na - nb
			}
			// Within one object, keep the order the checks found them in.
			return 0
		}
		return len(ta) - len(tb)
	})
}

// validName follows the Console: a leading letter, no spaces, no periods.
func validName(n string) bool {
	for i, r := range n {
		if i == 0 && !unicode.IsLetter(r) {
			return false
		}
		if unicode.IsSpace(r) || r == '.' {
			return false
		}
	}
	return true
}

func (v *validation) transitions(d *Definition, s *State, path string) {
	spec := registry[s.Type]
	seen := map[string]bool{}
	for j, t := range s.Transitions {
		tp := fmt.Sprintf("%s/transitions/%d", path, j)
		switch {
		case t.Event == "":
			v.add(tp+"/event", CodeInvalidDefinition, "event is required")
		case !slices.Contains(spec.events, t.Event):
			v.add(tp+"/event", CodeInvalidDefinition, "%s has no event %q (its events: %s)", s.Type, t.Event, strings.Join(spec.events, ", "))
		case t.Event != "match" && seen[t.Event]:
			v.add(tp+"/event", CodeInvalidDefinition, "event %q is listed twice", t.Event)
		}
		seen[t.Event] = true
		if t.Next != "" && d.State(t.Next) == nil {
			v.add(tp+"/next", CodeInvalidDefinition, "transition references a widget that doesn't exist: %q", t.Next)
		}
		if s.Type != TypeSplitBasedOn {
			if len(t.Conditions) > 0 {
				v.add(tp+"/conditions", CodeInvalidDefinition, "only split-based-on transitions have conditions")
			}
			continue
		}
		if t.Event == "match" && len(t.Conditions) == 0 {
			v.add(tp+"/conditions", CodeInvalidDefinition, "a match transition needs at least one condition")
		}
		for k, c := range t.Conditions {
			cp := fmt.Sprintf("%s/conditions/%d", tp, k)
			switch {
			case c.Type == "":
				v.add(cp+"/type", CodeInvalidDefinition, "type is required")
			case !predicate.Known(c.Type):
				v.add(cp+"/type", CodeInvalidDefinition, "unknown predicate type %q (known: %s)", c.Type, strings.Join(predicate.Types(), ", "))
			default:
				if err := predicate.Check(c.Type, c.Value); err != nil {
					v.add(cp+"/value", CodeInvalidDefinition, "%v", err)
				}
			}
			v.liquid(cp+"/value", c.Value)
			for a, arg := range c.Arguments {
				v.liquid(fmt.Sprintf("%s/arguments/%d", cp, a), arg)
			}
		}
	}
}

// liquidProps checks that every string in the properties parses as Liquid
// (offset excluded; it holds numbers).
func (v *validation) liquidProps(s *State, path string) {
	if len(s.Properties) == 0 {
		return
	}
	var props map[string]any
	if err := json.Unmarshal(s.Properties, &props); err != nil {
		return // reported by decodeProps
	}
	for _, k := range sortedKeys(props) {
		if k == "offset" {
			continue
		}
		v.walkLiquid(path+"/"+escapePointer(k), props[k])
	}
}

func (v *validation) walkLiquid(path string, x any) {
	switch t := x.(type) {
	case string:
		v.liquid(path, t)
	case []any:
		for i, e := range t {
			v.walkLiquid(fmt.Sprintf("%s/%d", path, i), e)
		}
	case map[string]any:
		for _, k := range sortedKeys(t) {
			v.walkLiquid(path+"/"+escapePointer(k), t[k])
		}
	}
}

func (v *validation) liquid(path, src string) {
	if !hasLiquid(src) {
		return
	}
	if err := v.e.liquid.Check(src); err != nil {
		v.add(path, CodeInvalidDefinition, "Liquid does not parse: %v", err)
		return
	}
	if !v.lint {
		return
	}
	for _, name := range v.e.liquid.UnknownFilters(src) {
		v.warnings = append(v.warnings, Problem{PropertyPath: path, Code: CodeLiquidRenderFailed,
			Message: fmt.Sprintf("Liquid filter %q is not supported: the widget fails when it applies it", name)})
	}
}

func hasLiquid(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%")
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// subflows resolves run-subflow references (studio.md §2.3).
func (v *validation) subflows(ctx context.Context, d *Definition, widgets []widget) error {
	revisions := map[string]string{}
	count := 0
	for i, w := range widgets {
		rs, ok := w.(*runSubflow)
		if !ok {
			continue
		}
		count++
		path := fmt.Sprintf("#/states/%d/properties", i)
		if rs.FlowSid == "" || hasLiquid(rs.FlowSid) || !validRevision(rs.FlowRevision) {
			continue // reported by check
		}
		if prev, ok := revisions[rs.FlowSid]; ok && prev != rs.FlowRevision {
			v.add(path+"/flow_revision", CodeSubflowError, "every reference to subflow %s must use the same revision (%q and %q)", rs.FlowSid, prev, rs.FlowRevision)
			continue
		} else if ok {
			continue
		}
		revisions[rs.FlowSid] = rs.FlowRevision
		if v.e.opts.Subflows == nil {
			continue
		}
		sub, err := v.e.opts.Subflows.ResolveSubflow(ctx, rs.FlowSid, rs.FlowRevision)
		switch {
		case errors.Is(err, ErrSubflowNotFound):
			v.add(path+"/flow_sid", CodeSubflowError, "subflow %s revision %s cannot be found", rs.FlowSid, rs.FlowRevision)
			continue
		case err != nil:
			return fmt.Errorf("resolving subflow %s: %w", rs.FlowSid, err)
		case sub == nil || sub.Definition == nil:
			v.add(path+"/flow_sid", CodeSubflowError, "subflow %s revision %s has no definition", rs.FlowSid, rs.FlowRevision)
			continue
		}
		for _, s := range sub.Definition.States {
			if s.Type == TypeRunSubflow {
				v.add(path+"/flow_sid", CodeSubflowError, "subflow %s itself runs a subflow (%s); only one level of nesting is allowed", rs.FlowSid, s.Name)
				break
			}
		}
	}
	if count > MaxSubflowWidgets {
		v.add("#/states", CodeSubflowError, "a flow may have at most %d run-subflow widgets, this one has %d", MaxSubflowWidgets, count)
	}
	if len(revisions) > MaxDistinctSubflows {
		v.add("#/states", CodeSubflowError, "a flow may use at most %d distinct subflows, this one uses %d", MaxDistinctSubflows, len(revisions))
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
