package engine

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"
)

// An Execution encodes and decodes itself for the same reason its Context
// does (context_json.go): FlowService persists one at every event. The
// encoding is what encoding/json gives by reflection, byte for byte; the
// decoding takes a fast path for the documents this encoding writes into a
// zero Execution, and leaves everything else to encoding/json
// (TestExecutionJSONMatchesReflection, FuzzExecutionJSON).

// plainExecution is Execution without its methods, for the slow path.
type plainExecution Execution

// MarshalJSON encodes x as encoding/json encodes its fields.
func (x *Execution) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, `{"sid":`...)
	b = appendString(b, x.Sid)
	b = append(b, `,"flow_sid":`...)
	b = appendString(b, x.FlowSid)
	if x.FlowRevision != 0 {
		b = append(b, `,"flow_revision":`...)
		b = strconv.AppendInt(b, int64(x.FlowRevision), 10)
	}
	b = append(b, `,"status":`...)
	b = appendString(b, x.Status)
	b = appendOptionalString(b, `,"ended_reason":`, x.EndedReason)
	if x.EndedCode != 0 {
		b = append(b, `,"ended_code":`...)
		b = strconv.AppendInt(b, int64(x.EndedCode), 10)
	}
	b = appendOptionalString(b, `,"ended_error":`, x.EndedError)
	b = append(b, `,"trigger_event":`...)
	b = appendString(b, x.TriggerEvent)
	b = appendOptionalString(b, `,"conversation_sid":`, x.ConversationSid)
	var err error
	if !x.Context.isZero() {
		b = append(b, `,"context":`...)
		if b, err = appendContext(b, &x.Context, nil); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"step_count":`...)
	b = strconv.AppendInt(b, int64(x.StepCount), 10)
	b = appendOptionalString(b, `,"last_step_sid":`, x.LastStepSid)
	b = appendOptionalString(b, `,"last_widget":`, x.LastWidget)
	if x.Repeats != 0 {
		b = append(b, `,"repeats":`...)
		b = strconv.AppendInt(b, int64(x.Repeats), 10)
	}
	if w := x.Wait; w != nil {
		b = append(b, `,"wait":{"widget":`...)
		b = appendString(b, w.Widget)
		b = append(b, `,"until":`...)
		if b, err = appendTime(b, w.Until); err != nil {
			return nil, err
		}
		b = appendOptionalString(b, `,"subflow":`, w.Subflow)
		b = append(b, '}')
	}
	if f := x.Subflow; f != nil {
		b = append(b, `,"subflow":{"widget":`...)
		b = appendString(b, f.Widget)
		b = append(b, `,"flow_sid":`...)
		b = appendString(b, f.FlowSid)
		b = append(b, `,"revision":`...)
		b = strconv.AppendInt(b, int64(f.Revision), 10)
		b = append(b, `,"parent":`...)
		if b, err = appendContext(b, &f.Parent, nil); err != nil {
			return nil, err
		}
		b = appendOptionalString(b, `,"parent_step_sid":`, f.ParentStepSid)
		b = append(b, '}')
	}
	b = append(b, `,"date_created":`...)
	if b, err = appendTime(b, x.DateCreated); err != nil {
		return nil, err
	}
	b = append(b, `,"date_updated":`...)
	if b, err = appendTime(b, x.DateUpdated); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendOptionalString is an omitempty string field.
func appendOptionalString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

// appendTime appends t as time.Time's MarshalJSON does, with its errors.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return nil, err
	}
	return append(b, '"'), nil
}

// isZero reports whether c is the zero Context, which an Execution's
// omitzero leaves out; the engine always fills a context's maps, so only a
// context a caller emptied on purpose (to store it apart) is zero. It asks
// reflection, as omitzero does, so that a field added to Context cannot
// make the two disagree.
func (c *Context) isZero() bool {
	return reflect.ValueOf(c).Elem().IsZero()
}

// UnmarshalJSON decodes an execution. A context left out stays the zero
// Context: the caller stored it apart.
func (x *Execution) UnmarshalJSON(b []byte) error {
	// The fast path builds a fresh value; encoding/json decodes into what
	// is there, keeping what the document leaves out.
	if reflect.ValueOf(x).Elem().IsZero() {
		d := contextDecoder{data: b}
		var fast Execution
		if d.execution(&fast) && d.end() {
			*x = fast
			return nil
		}
	}
	return json.Unmarshal(b, (*plainExecution)(x))
}

func (d *contextDecoder) execution(x *Execution) bool {
	return d.fields(func(key []byte, seen *uint) bool {
		switch string(key) {
		case "sid":
			return once(seen, 0) && d.stringOrNull(&x.Sid)
		case "flow_sid":
			return once(seen, 1) && d.stringOrNull(&x.FlowSid)
		case "flow_revision":
			return once(seen, 2) && d.int(&x.FlowRevision)
		case "status":
			return once(seen, 3) && d.stringOrNull(&x.Status)
		case "ended_reason":
			return once(seen, 4) && d.stringOrNull(&x.EndedReason)
		case "ended_code":
			return once(seen, 5) && d.int(&x.EndedCode)
		case "ended_error":
			return once(seen, 6) && d.stringOrNull(&x.EndedError)
		case "trigger_event":
			return once(seen, 7) && d.stringOrNull(&x.TriggerEvent)
		case "conversation_sid":
			return once(seen, 8) && d.stringOrNull(&x.ConversationSid)
		case "context":
			return once(seen, 9) && d.context(&x.Context)
		case "step_count":
			return once(seen, 10) && d.int(&x.StepCount)
		case "last_step_sid":
			return once(seen, 11) && d.stringOrNull(&x.LastStepSid)
		case "last_widget":
			return once(seen, 12) && d.stringOrNull(&x.LastWidget)
		case "repeats":
			return once(seen, 13) && d.int(&x.Repeats)
		case "wait":
			return once(seen, 14) && d.wait(&x.Wait)
		case "subflow":
			return once(seen, 15) && d.frame(&x.Subflow)
		case "date_created":
			return once(seen, 16) && d.time(&x.DateCreated)
		case "date_updated":
			return once(seen, 17) && d.time(&x.DateUpdated)
		}
		return false
	})
}

// wait decodes a wait, or null, which leaves *w nil.
func (d *contextDecoder) wait(w **Wait) bool {
	if d.null() {
		return true
	}
	v := new(Wait)
	*w = v
	return d.fields(func(key []byte, seen *uint) bool {
		switch string(key) {
		case "widget":
			return once(seen, 0) && d.stringOrNull(&v.Widget)
		case "until":
			return once(seen, 1) && d.time(&v.Until)
		case "subflow":
			return once(seen, 2) && d.stringOrNull(&v.Subflow)
		}
		return false
	})
}

// frame decodes a subflow frame, or null, which leaves *f nil.
func (d *contextDecoder) frame(f **Frame) bool {
	if d.null() {
		return true
	}
	v := new(Frame)
	*f = v
	return d.fields(func(key []byte, seen *uint) bool {
		switch string(key) {
		case "widget":
			return once(seen, 0) && d.stringOrNull(&v.Widget)
		case "flow_sid":
			return once(seen, 1) && d.stringOrNull(&v.FlowSid)
		case "revision":
			return once(seen, 2) && d.int(&v.Revision)
		case "parent":
			return once(seen, 3) && d.context(&v.Parent)
		case "parent_step_sid":
			return once(seen, 4) && d.stringOrNull(&v.ParentStepSid)
		}
		return false
	})
}

// int decodes an integer that fits an int; anything else (a fraction, an
// exponent, null, a string) is left to encoding/json.
func (d *contextDecoder) int(n *int) bool {
	d.ws()
	if d.i >= len(d.data) || d.data[d.i] != '-' && (d.data[d.i] < '0' || d.data[d.i] > '9') {
		return false
	}
	// number gives an int64 only for integer text ("1.0" is a float64).
	v, ok := d.number()
	i, isInt := v.(int64)
	if !ok || !isInt || int64(int(i)) != i {
		return false
	}
	*n = int(i)
	return true
}

// time decodes a time as time.Time's UnmarshalJSON does, from the quoted
// string; a string with escapes, null or a bad time is left to
// encoding/json.
func (d *contextDecoder) time(t *time.Time) bool {
	d.ws()
	start := d.i
	if start >= len(d.data) || d.data[start] != '"' {
		return false
	}
	for j := start + 1; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			d.i = j + 1
			return t.UnmarshalJSON(d.data[start:d.i]) == nil
		case c == '\\' || c < 0x20:
			return false
		}
	}
	return false
}
