package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// Definition is a Studio flow definition as the Console exports it; build
// it with Parse (or Engine.Read):
//
//	{"description": "…", "states": [{"name": "Trigger", "type": "trigger", …}, …],
//	 "initial_state": "Trigger", "flags": {"allow_concurrent_calls": true}}
//
// Parse reads it leniently (numbers given as strings, unknown keys) and
// keeps every state's original JSON, so marshalling a parsed definition
// gives back what was read, unknown properties included. A parsed
// Definition is read-only: the engine caches compiled widgets in it and
// shares it between goroutines.
type Definition struct {
	Description  string
	States       []*State
	InitialState string
	// Flags is the raw "flags" object, nil when absent.
	Flags json.RawMessage

	raw      map[string]json.RawMessage // every top-level key as read
	problems []Problem                  // shape errors found while parsing
	index    map[string]int             // state name → first index

	compileOnce sync.Once
	compileErr  error
}

// State is one widget of a definition.
type State struct {
	Name        string
	Type        string
	Transitions []Transition
	// Properties is the raw "properties" object: widgets decode what they
	// know and leave the rest (offset, newer Console fields) alone.
	Properties json.RawMessage

	raw    map[string]json.RawMessage
	widget widget // set by compile
}

// Transition is one entry of a state's "transitions". An empty Next means
// nothing is connected: taking it ends the execution.
type Transition struct {
	Event      string      `json:"event"`
	Next       string      `json:"next,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is one split-based-on test.
type Condition struct {
	FriendlyName string   `json:"friendly_name"`
	Arguments    []string `json:"arguments"`
	Type         string   `json:"type"`
	Value        string   `json:"value"`
}

// Parse reads a definition without validating it: it fails only when data
// is not a JSON object or is larger than MaxDefinitionBytes. Keys of the
// wrong JSON type are recorded and reported by Validate together with every
// other problem. Parse never panics on any input (FuzzRead checks that).
func Parse(data []byte) (*Definition, error) {
	if len(data) > MaxDefinitionBytes {
		return nil, fmt.Errorf("%w: definition is %d bytes, more than %d", ErrInvalidDefinition, len(data), MaxDefinitionBytes)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDefinition, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: definition is null", ErrInvalidDefinition)
	}
	d := &Definition{raw: top}
	d.Description = d.text(top, "description", "#/description")
	d.InitialState = d.text(top, "initial_state", "#/initial_state")
	if f, ok := top["flags"]; ok && !isNull(f) {
		d.Flags = f
	}
	if rs, ok := top["states"]; ok && !isNull(rs) {
		var states []json.RawMessage
		if err := json.Unmarshal(rs, &states); err != nil {
			d.problem("#/states", "states must be an array of widgets")
		}
		for i, r := range states {
			d.States = append(d.States, d.parseState(r, fmt.Sprintf("#/states/%d", i)))
		}
	}
	d.index = make(map[string]int, len(d.States))
	for i, s := range d.States {
		if _, dup := d.index[s.Name]; !dup && s.Name != "" {
			d.index[s.Name] = i
		}
	}
	return d, nil
}

func (d *Definition) parseState(r json.RawMessage, path string) *State {
	s := &State{}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r, &m); err != nil || m == nil {
		d.problem(path, "a widget must be a JSON object")
		return s
	}
	s.raw = m
	s.Name = d.text(m, "name", path+"/name")
	s.Type = d.text(m, "type", path+"/type")
	if p, ok := m["properties"]; ok && !isNull(p) {
		if !bytes.HasPrefix(bytes.TrimSpace(p), []byte("{")) {
			d.problem(path+"/properties", "properties must be an object")
		} else {
			s.Properties = p
		}
	}
	if rt, ok := m["transitions"]; ok && !isNull(rt) {
		var ts []json.RawMessage
		if err := json.Unmarshal(rt, &ts); err != nil {
			d.problem(path+"/transitions", "transitions must be an array")
		}
		for j, t := range ts {
			s.Transitions = append(s.Transitions, d.parseTransition(t, fmt.Sprintf("%s/transitions/%d", path, j)))
		}
	}
	return s
}

func (d *Definition) parseTransition(r json.RawMessage, path string) Transition {
	var t Transition
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r, &m); err != nil || m == nil {
		d.problem(path, "a transition must be a JSON object")
		return t
	}
	t.Event = d.text(m, "event", path+"/event")
	t.Next = d.text(m, "next", path+"/next")
	if rc, ok := m["conditions"]; ok && !isNull(rc) {
		var cs []json.RawMessage
		if err := json.Unmarshal(rc, &cs); err != nil {
			d.problem(path+"/conditions", "conditions must be an array")
		}
		for k, c := range cs {
			cp := fmt.Sprintf("%s/conditions/%d", path, k)
			var cm map[string]json.RawMessage
			if err := json.Unmarshal(c, &cm); err != nil || cm == nil {
				d.problem(cp, "a condition must be a JSON object")
				continue
			}
			cond := Condition{
				FriendlyName: d.text(cm, "friendly_name", cp+"/friendly_name"),
				Type:         d.text(cm, "type", cp+"/type"),
				Value:        d.text(cm, "value", cp+"/value"),
			}
			if ra, ok := cm["arguments"]; ok && !isNull(ra) {
				var args []text
				if err := json.Unmarshal(ra, &args); err != nil {
					d.problem(cp+"/arguments", "arguments must be an array of strings")
				}
				for _, a := range args {
					cond.Arguments = append(cond.Arguments, string(a))
				}
			}
			t.Conditions = append(t.Conditions, cond)
		}
	}
	return t
}

// text reads a string-like key (strings, numbers and booleans are all
// accepted, since exports write some numbers as strings and some not).
func (d *Definition) text(m map[string]json.RawMessage, key, path string) string {
	r, ok := m[key]
	if !ok {
		return ""
	}
	var t text
	if err := json.Unmarshal(r, &t); err != nil {
		d.problem(path, key+" must be a string")
		return ""
	}
	return string(t)
}

func (d *Definition) problem(path, msg string) {
	d.problems = append(d.problems, Problem{PropertyPath: path, Message: msg, Code: CodeInvalidDefinition})
}

// State returns the state with that name, or nil.
func (d *Definition) State(name string) *State {
	i, ok := d.index[name]
	if !ok {
		return nil
	}
	return d.States[i]
}

// MarshalJSON writes the definition back. A parsed definition gives back
// its original keys and values (unknown ones included); key order follows
// encoding/json's map order, which Studio treats as meaningless.
func (d *Definition) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(d.raw)+4)
	for k, v := range d.raw {
		out[k] = v
	}
	if d.raw == nil {
		out["description"] = d.Description
		out["initial_state"] = d.InitialState
		if d.Flags != nil {
			out["flags"] = d.Flags
		}
	}
	if _, ok := d.raw["states"]; ok || d.raw == nil {
		out["states"] = d.States
	}
	return json.Marshal(out)
}

// MarshalJSON writes the state back with its original keys.
func (s *State) MarshalJSON() ([]byte, error) {
	if s.raw != nil {
		return json.Marshal(s.raw)
	}
	out := map[string]any{"name": s.Name, "type": s.Type, "transitions": s.Transitions}
	if s.Transitions == nil {
		out["transitions"] = []Transition{}
	}
	if s.Properties != nil {
		out["properties"] = s.Properties
	} else {
		out["properties"] = map[string]any{}
	}
	return json.Marshal(out)
}

// UnmarshalJSON parses a definition; use Parse to get the error-free path.
func (d *Definition) UnmarshalJSON(data []byte) error {
	p, err := Parse(data)
	if err != nil {
		return err
	}
	d.Description, d.States, d.InitialState, d.Flags = p.Description, p.States, p.InitialState, p.Flags
	d.raw, d.problems, d.index = p.raw, p.problems, p.index
	return nil
}

// text is a string that may be written in JSON as a string, a number or a
// boolean ("timeout": "3600" and "timeout": 3600 read the same). null reads
// as "".
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("empty value")
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case b[0] == 'n' && string(b) == "null":
		*t = ""
	case b[0] == 't' || b[0] == 'f':
		var v bool
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*t = text(strconv.FormatBool(v))
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*t = text(n.String())
	default:
		return fmt.Errorf("expected a string or a number")
	}
	return nil
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }
