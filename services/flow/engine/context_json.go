package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Every event an execution waits for decodes its context from the store,
// and every commit encodes it: with encoding/json's reflection into
// map[string]any those two were about half of a wait → persist → resume
// session (PERFORMANCE.md). Context therefore encodes and decodes itself.
//
// Encoding reuses the snapshot encoder (appendContext), which gives what
// encoding/json gives byte for byte. Decoding takes a fast path for the
// documents FlowService writes — the context's own keys, JSON-shaped
// values — and gives up on anything else (an unknown or repeated key, a
// value of the wrong type, invalid JSON, deep nesting), which then goes the
// way it always went: encoding/json with UseNumber, normalised. The fast
// path accepts nothing encoding/json would refuse and yields exactly what
// it would (FuzzContextJSON compares the two).

// MarshalJSON encodes the context as encoding/json would encode its fields.
func (c Context) MarshalJSON() ([]byte, error) {
	return appendContext(make([]byte, 0, 1024), &c, nil)
}

// UnmarshalJSON keeps numbers typed the way the engine stores them: whole
// numbers as int64, others as float64, so a resumed execution renders and
// compares exactly as the one that was persisted. Missing maps are empty.
func (c *Context) UnmarshalJSON(b []byte) error {
	d := contextDecoder{data: b}
	var fast Context
	if d.context(&fast) && d.end() {
		*c = fast
		return nil
	}
	return c.unmarshalSlow(b)
}

// unmarshalSlow is encoding/json's decoding of a context, with its errors.
func (c *Context) unmarshalSlow(b []byte) error {
	type plain Context
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	// Decode reads one value: anything after it is an error, as it is for
	// json.Unmarshal, which calls UnmarshalJSON with one value only.
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("engine: a context has more after its end (offset %d)", dec.InputOffset())
	}
	*c = Context(p)
	for _, m := range [...]map[string]any{c.Trigger, c.Widgets, c.Flow.Data, c.Flow.Variables} {
		normalize(m)
	}
	c.fill()
	return nil
}

// decodeJSON decodes one JSON value, typing numbers as the engine does
// (int64 or float64), as a json.Decoder with UseNumber does followed by
// normalizeValue, and reports false for what that decoder refuses or when
// another value follows (a Function's body, a JSON flow variable).
func decodeJSON(b []byte) (any, bool) {
	d := contextDecoder{data: b}
	if v, ok := d.value(0); ok && d.end() {
		return v, true
	}
	return decodeJSONSlow(b)
}

func decodeJSONSlow(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return normalizeValue(v), true
}

// maxContextDepth bounds the fast path's recursion; deeper documents go to
// encoding/json, which has its own limit and error.
const maxContextDepth = 200

// contextDecoder is the fast path's parser. Each method reports false to
// give up, leaving the document to encoding/json.
type contextDecoder struct {
	data []byte
	i    int
}

func (d *contextDecoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// end reports whether nothing but whitespace is left.
func (d *contextDecoder) end() bool {
	d.ws()
	return d.i == len(d.data)
}

// consume skips whitespace and then c.
func (d *contextDecoder) consume(c byte) bool {
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// null consumes a null literal if one is next.
func (d *contextDecoder) null() bool {
	d.ws()
	if bytes.HasPrefix(d.data[d.i:], []byte("null")) {
		d.i += 4
		return true
	}
	return false
}

// fields decodes an object whose keys are all known to field, each at most
// once; field decodes the key's value and reports whether it could. seen
// marks the keys so far as a bit mask in the order field assigns them.
func (d *contextDecoder) fields(field func(key []byte, seen *uint) bool) bool {
	if d.null() {
		return true
	}
	if !d.consume('{') {
		return false
	}
	var seen uint
	if d.consume('}') {
		return true
	}
	for {
		d.ws()
		key, ok := d.rawKey()
		if !ok || !d.consume(':') || !field(key, &seen) {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// once marks bit in seen, reporting false if it was marked already:
// encoding/json merges a repeated object into the field, which the fast
// path does not do.
func once(seen *uint, bit uint) bool {
	if *seen&(1<<bit) != 0 {
		return false
	}
	*seen |= 1 << bit
	return true
}

// context decodes a context and fills its missing maps.
func (d *contextDecoder) context(c *Context) bool {
	ok := d.fields(func(key []byte, seen *uint) bool {
		switch string(key) {
		case "trigger":
			return once(seen, 0) && d.objectOrNull(&c.Trigger)
		case "flow":
			return once(seen, 1) && d.flow(&c.Flow)
		case "contact":
			return once(seen, 2) && d.fields(func(key []byte, seen *uint) bool {
				return string(key) == "channel" && once(seen, 0) && d.channel(&c.Contact.Channel)
			})
		case "widgets":
			return once(seen, 3) && d.objectOrNull(&c.Widgets)
		}
		return false
	})
	c.fill()
	return ok
}

func (d *contextDecoder) flow(f *FlowContext) bool {
	return d.fields(func(key []byte, seen *uint) bool {
		switch string(key) {
		case "flow_sid":
			return once(seen, 0) && d.stringOrNull(&f.FlowSid)
		case "sid":
			return once(seen, 1) && d.stringOrNull(&f.Sid)
		case "channel":
			return once(seen, 2) && d.channel(&f.Channel)
		case "data":
			return once(seen, 3) && d.objectOrNull(&f.Data)
		case "variables":
			return once(seen, 4) && d.objectOrNull(&f.Variables)
		}
		return false
	})
}

func (d *contextDecoder) channel(ch *Channel) bool {
	return d.fields(func(key []byte, seen *uint) bool {
		return string(key) == "address" && once(seen, 0) && d.stringOrNull(&ch.Address)
	})
}

// stringOrNull decodes a string into s; null leaves s as it is, as
// encoding/json does.
func (d *contextDecoder) stringOrNull(s *string) bool {
	if d.null() {
		return true
	}
	d.ws()
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return false
	}
	v, ok := d.string()
	if ok {
		*s = v
	}
	return ok
}

// objectOrNull decodes an object into a fresh map; null leaves m nil.
func (d *contextDecoder) objectOrNull(m *map[string]any) bool {
	if d.null() {
		return true
	}
	d.ws()
	if d.i >= len(d.data) || d.data[d.i] != '{' {
		return false
	}
	v, ok := d.object(0)
	if ok {
		*m = v
	}
	return ok
}

// value decodes any JSON value the way encoding/json decodes into an
// interface with UseNumber, followed by normalize.
func (d *contextDecoder) value(depth int) (any, bool) {
	d.ws()
	if d.i >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.i]; {
	case c == '"':
		return d.string()
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	for _, lit := range [...]struct {
		text string
		v    any
	}{{"null", nil}, {"true", true}, {"false", false}} {
		if bytes.HasPrefix(d.data[d.i:], []byte(lit.text)) {
			d.i += len(lit.text)
			return lit.v, true
		}
	}
	return nil, false
}

// object decodes an object at d.i; a repeated key keeps its last value, as
// encoding/json does in a map.
func (d *contextDecoder) object(depth int) (map[string]any, bool) {
	if depth >= maxContextDepth {
		return nil, false
	}
	d.i++ // '{'
	m := map[string]any{}
	if d.consume('}') {
		return m, true
	}
	for {
		d.ws()
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, false
		}
		k, ok := d.string()
		if !ok || !d.consume(':') {
			return nil, false
		}
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return m, true
		}
		return nil, false
	}
}

func (d *contextDecoder) array(depth int) ([]any, bool) {
	if depth >= maxContextDepth {
		return nil, false
	}
	d.i++ // '['
	a := []any{}
	if d.consume(']') {
		return a, true
	}
	for {
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if d.consume(',') {
			continue
		}
		if d.consume(']') {
			return a, true
		}
		return nil, false
	}
}

// rawKey returns an object key that needs no unescaping, for matching
// struct fields; any other key gives up.
func (d *contextDecoder) rawKey() ([]byte, bool) {
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	for j := start; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			d.i = j + 1
			return d.data[start:j], true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

// string decodes the string whose opening quote is at d.i. Strings without escapes become the
// bytes between the quotes (checked as UTF-8); one with an escape or
// invalid UTF-8 is unquoted by encoding/json, which replaces bad bytes and
// lone surrogates with U+FFFD.
func (d *contextDecoder) string() (string, bool) {
	start := d.i + 1
	plain, ascii := true, true
	for j := start; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			d.i = j + 1
			raw := d.data[start:j]
			if plain && (ascii || utf8.Valid(raw)) {
				return string(raw), true
			}
			var s string
			if json.Unmarshal(d.data[start-1:j+1], &s) != nil {
				return "", false
			}
			return s, true
		case c == '\\':
			plain = false
			j++ // the escaped byte, which may be a quote
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// number decodes a number as normalize does a json.Number: an int64 when
// its text parses as one, else a float64 (±Inf beyond float64's range).
func (d *contextDecoder) number() (any, bool) {
	start := d.i
	j := start
	digits := func() int {
		n := 0
		for j < len(d.data) && d.data[j] >= '0' && d.data[j] <= '9' {
			j++
			n++
		}
		return n
	}
	if d.data[j] == '-' {
		j++
	}
	intStart := j
	n := digits()
	if n == 0 || n > 1 && d.data[intStart] == '0' {
		return nil, false
	}
	whole := true
	if j < len(d.data) && d.data[j] == '.' {
		j++
		if digits() == 0 {
			return nil, false
		}
		whole = false
	}
	if j < len(d.data) && (d.data[j] == 'e' || d.data[j] == 'E') {
		j++
		if j < len(d.data) && (d.data[j] == '+' || d.data[j] == '-') {
			j++
		}
		if digits() == 0 {
			return nil, false
		}
		whole = false
	}
	d.i = j
	text := d.data[start:j]
	if whole && n <= 18 {
		// At most 18 digits cannot overflow an int64.
		var v int64
		for _, c := range text[intStart-start:] {
			v = v*10 + int64(c-'0')
		}
		if intStart > start {
			v = -v
		}
		return v, true
	}
	if i, err := strconv.ParseInt(string(text), 10, 64); err == nil {
		return i, true
	}
	f, _ := strconv.ParseFloat(string(text), 64)
	return f, true
}
