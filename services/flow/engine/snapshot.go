package engine

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
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
		// Most objects in a context are small: their keys sort on the stack.
		var buf [16]string
		keys := buf[:0]
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
	b, err := appendContext(s.buf[:0], c, s)
	if err != nil {
		return nil, err
	}
	s.buf = b
	return json.RawMessage(slices.Clone(b)), nil
}

// appendContext appends c as json.Marshal would encode its fields. With s,
// the parts that stay the same map between steps come from s's cache (see
// snapshots); without, everything is encoded afresh.
func appendContext(b []byte, c *Context, s *snapshots) ([]byte, error) {
	// encode appends m through its cache slot p, or afresh without one.
	encode := func(b []byte, p *part, m any) ([]byte, error) {
		if p == nil {
			return appendJSON(b, m)
		}
		enc, err := p.encode(m)
		if err != nil {
			return nil, err
		}
		return append(b, enc...), nil
	}
	var tp, dp *part
	if s != nil {
		tp, dp = &s.trigger, &s.data
	}
	var err error
	b = append(b, `{"trigger":`...)
	if b, err = encode(b, tp, c.Trigger); err != nil {
		return nil, err
	}
	b = append(b, `,"flow":{"flow_sid":`...)
	b = appendString(b, c.Flow.FlowSid)
	b = append(b, `,"sid":`...)
	b = appendString(b, c.Flow.Sid)
	b = append(b, `,"channel":{"address":`...)
	b = appendString(b, c.Flow.Channel.Address)
	b = append(b, `},"data":`...)
	if b, err = encode(b, dp, c.Flow.Data); err != nil {
		return nil, err
	}
	b = append(b, `,"variables":`...)
	// Set Variables edits flow.variables in place: always encoded.
	if b, err = appendJSON(b, c.Flow.Variables); err != nil {
		return nil, err
	}
	b = append(b, `},"contact":{"channel":{"address":`...)
	b = appendString(b, c.Contact.Channel.Address)
	b = append(b, `}},"widgets":`...)
	if c.Widgets == nil {
		b = append(b, "null"...)
		return append(b, '}'), nil
	}
	var names []string
	if s != nil {
		names = s.names[:0]
	}
	names = slices.AppendSeq(names, maps.Keys(c.Widgets))
	slices.Sort(names)
	b = append(b, '{')
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
		var slot *part
		if s != nil {
			p := s.widgets[name]
			slot = &p
		}
		if b, err = encode(b, slot, c.Widgets[name]); err != nil {
			return nil, err
		}
		if slot != nil {
			s.widgets[name] = *slot
		}
	}
	if s != nil {
		s.names = names
	}
	return append(b, '}', '}'), nil
}

// appendString appends s as a JSON string, escaped as json.Marshal does:
// quotes, backslashes and control characters, <, > and & (HTML-safe),
// U+2028 and U+2029, and each invalid UTF-8 byte as \ufffd. It is
// encoding/json's own loop (encode.go), which json.Marshal would reach only
// through an allocation and its reflection.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
