package engine

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
)

// snapshots encodes step context snapshots. Encoding the whole context at
// every step dominated a run's cost, yet between two steps only the widget
// that ran and flow.variables change: widget outputs are replaced
// wholesale, never edited in place, and the trigger and flow.data are
// written once. So each part's JSON is kept and reused while the part is
// the same map; the result is byte-for-byte what json.Marshal(&Context)
// gives (TestSnapshotMatchesMarshal).
type snapshots struct {
	trigger part
	data    part
	widgets map[string]part
	names   []string
	buf     []byte
}

// part is one cached encoding. src keeps the encoded map alive, so its
// address cannot be reused by a different map while cached.
type part struct {
	src  any
	ptr  uintptr
	json []byte
}

func (p *part) encode(m any) ([]byte, error) {
	rv := reflect.ValueOf(m)
	if rv.Kind() != reflect.Map || rv.IsNil() {
		return appendJSON(nil, m) // not a map: nothing to key a cache on
	}
	ptr := rv.Pointer()
	if p.json != nil && p.ptr == ptr {
		return p.json, nil
	}
	b, err := appendJSON(nil, m)
	if err != nil {
		return nil, err
	}
	*p = part{src: m, ptr: ptr, json: b}
	return b, nil
}

// appendJSON encodes the JSON-shaped values a context holds (maps with
// string keys, slices, strings, booleans, int64, nil) the way encoding/json
// does, sorted keys included, without its reflection; other types, floats
// among them, go through encoding/json.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// encode returns the snapshot of c; the slice is fresh for each call.
func (s *snapshots) encode(c *Context) (json.RawMessage, error) {
	if s.widgets == nil {
		s.widgets = map[string]part{}
	}
	b := s.buf[:0]
	b = append(b, `{"trigger":`...)
	t, err := s.trigger.encode(c.Trigger)
	if err != nil {
		return nil, err
	}
	b = append(b, t...)
	b = append(b, `,"flow":{"flow_sid":`...)
	b = appendString(b, c.Flow.FlowSid)
	b = append(b, `,"sid":`...)
	b = appendString(b, c.Flow.Sid)
	b = append(b, `,"channel":{"address":`...)
	b = appendString(b, c.Flow.Channel.Address)
	b = append(b, `},"data":`...)
	d, err := s.data.encode(c.Flow.Data)
	if err != nil {
		return nil, err
	}
	b = append(b, d...)
	b = append(b, `,"variables":`...)
	// Set Variables edits flow.variables in place: always encoded.
	b, err = appendJSON(b, c.Flow.Variables)
	if err != nil {
		return nil, err
	}
	b = append(b, `},"contact":{"channel":{"address":`...)
	b = appendString(b, c.Contact.Channel.Address)
	b = append(b, `}},"widgets":`...)
	if c.Widgets == nil {
		b = append(b, "null"...)
	} else {
		s.names = s.names[:0]
		for name := range c.Widgets {
			s.names = append(s.names, name)
		}
		slices.Sort(s.names)
		b = append(b, '{')
		for i, name := range s.names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, name)
			b = append(b, ':')
			p := s.widgets[name]
			w, err := p.encode(c.Widgets[name])
			if err != nil {
				return nil, err
			}
			s.widgets[name] = p
			b = append(b, w...)
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	s.buf = b
	return json.RawMessage(slices.Clone(b)), nil
}

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			safe = false
			break
		}
	}
	if safe {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}
