package engine

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// plainContext is Context without its methods: what encoding/json makes of
// it by reflection, the reference for both directions.
type plainContext Context

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func referenceDecode(b []byte) (Context, error) {
	var c Context
	err := c.unmarshalSlow(b)
	return c, err
}

// fastDecode runs only the fast path, reporting whether it took the document.
func fastDecode(b []byte) (Context, bool) {
	d := contextDecoder{data: b}
	var c Context
	if !d.context(&c) || !d.end() {
		return Context{}, false
	}
	c.fill()
	return c, true
}

func sampleContext() Context {
	return Context{
		Trigger: map[string]any{"conversation": map[string]any{
			"Body": "Hi <b>&</b> — ünïcödé 🎉\n\"quoted\"", "Index": int64(3), "Attributes": "{}",
		}},
		Flow: FlowContext{
			FlowSid: "FW00000000000000000000000000000001", Sid: "FN00000000000000000000000000000001",
			Channel: Channel{Address: "+15550002222"},
			Data:    map[string]any{"n": 1.5, "big": float64(1e300), "neg": int64(-42), "list": []any{true, false, nil, "x"}},
			Variables: map[string]any{
				"count": int64(7), "empty": map[string]any{}, "none": []any{},
			},
		},
		Contact: ContactContext{Channel: Channel{Address: "+15550001111"}},
		Widgets: map[string]any{
			"reply":   map[string]any{"outbound": map[string]any{"Body": "a\u2028b", "Sid": "SM1"}},
			"fn":      map[string]any{"status_code": int64(200), "parsed": map[string]any{"deep": []any{[]any{int64(1)}}}},
			"strings": []string{"typed", "slice"},
		},
	}
}

func TestContextMarshalMatchesEncodingJSON(t *testing.T) {
	for name, c := range map[string]Context{
		"sample": sampleContext(),
		"empty":  {},
		"filled": func() Context { var c Context; c.fill(); return c }(),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal((*plainContext)(&c))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("MarshalJSON\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestContextRoundTripTakesFastPath checks that what FlowService writes
// decodes on the fast path, to what encoding/json would give.
func TestContextRoundTripTakesFastPath(t *testing.T) {
	c := sampleContext()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	fast, ok := fastDecode(b)
	if !ok {
		t.Fatalf("the fast path gave up on %s", b)
	}
	want, err := referenceDecode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Errorf("fast path\n got %#v\nwant %#v", fast, want)
	}
	if got := fast.Flow.Data["neg"]; got != int64(-42) {
		t.Errorf("flow.data.neg = %#v, want int64(-42)", got)
	}
	if got := fast.Widgets["reply"].(map[string]any)["outbound"].(map[string]any)["Body"]; got != "a\u2028b" {
		t.Errorf("escaped body = %q", got)
	}
}

func TestContextUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		fast     bool // taken by the fast path
		err      bool
		check    func(*testing.T, Context)
	}{
		{name: "null", in: `null`, fast: true},
		{name: "empty", in: ` {} `, fast: true},
		{name: "numbers", in: `{"widgets":{"a":{"i":12,"f":1.0,"e":1e3,"big":123456789012345678901,"min":-9223372036854775808,"z":-0,"inf":1e400}}}`, fast: true,
			check: func(t *testing.T, c Context) {
				a := c.Widgets["a"].(map[string]any)
				want := map[string]any{"i": int64(12), "f": 1.0, "e": 1000.0, "big": 123456789012345678901.0, "min": int64(math.MinInt64), "z": int64(0), "inf": math.Inf(1)}
				if !reflect.DeepEqual(a, want) {
					t.Errorf("got %#v, want %#v", a, want)
				}
			}},
		{name: "repeated map key keeps the last", in: `{"trigger":{"a":1,"a":2}}`, fast: true,
			check: func(t *testing.T, c Context) {
				if c.Trigger["a"] != int64(2) {
					t.Errorf("trigger.a = %#v", c.Trigger["a"])
				}
			}},
		{name: "null fields", in: `{"trigger":null,"flow":{"sid":null,"channel":null,"data":null},"contact":null,"widgets":null}`, fast: true},
		{name: "escaped key", in: `{"widgets":{"a\u0062":"x\ud83c\udf89","lone":"\ud800"}}`, fast: true,
			check: func(t *testing.T, c Context) {
				if c.Widgets["ab"] != "x🎉" || c.Widgets["lone"] != "\ufffd" {
					t.Errorf("widgets = %#v", c.Widgets)
				}
			}},
		{name: "invalid UTF-8 is replaced", in: "{\"widgets\":{\"a\":\"\xff\"}}", fast: true,
			check: func(t *testing.T, c Context) {
				if c.Widgets["a"] != "\ufffd" {
					t.Errorf("widgets.a = %q", c.Widgets["a"])
				}
			}},
		// Given up by the fast path, decoded by encoding/json as before.
		{name: "unknown key is ignored", in: `{"extra":[1],"flow":{"sid":"FN1"}}`,
			check: func(t *testing.T, c Context) {
				if c.Flow.Sid != "FN1" {
					t.Errorf("flow.sid = %q", c.Flow.Sid)
				}
			}},
		{name: "case-insensitive field", in: `{"Flow":{"SID":"FN1"}}`,
			check: func(t *testing.T, c Context) {
				if c.Flow.Sid != "FN1" {
					t.Errorf("flow.sid = %q", c.Flow.Sid)
				}
			}},
		{name: "repeated field merges", in: `{"trigger":{"a":1},"trigger":{"b":2}}`,
			check: func(t *testing.T, c Context) {
				if len(c.Trigger) != 2 {
					t.Errorf("trigger = %#v", c.Trigger)
				}
			}},
		{name: "deep", in: `{"widgets":{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}}`},
		{name: "wrong type", in: `{"trigger":"x"}`, err: true},
		{name: "leading zero", in: `{"widgets":{"a":01}}`, err: true},
		{name: "bare minus", in: `{"widgets":{"a":-}}`, err: true},
		{name: "control character", in: "{\"widgets\":{\"a\":\"\x01\"}}", err: true},
		{name: "bad escape", in: `{"widgets":{"a":"\x"}}`, err: true},
		{name: "trailing comma", in: `{"widgets":{"a":1,}}`, err: true},
		{name: "more after the end", in: `{} {}`, err: true},
		{name: "truncated", in: `{"widgets":{"a":tru`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, fast := fastDecode([]byte(tc.in))
			if fast != tc.fast {
				t.Errorf("fast path took it: %v, want %v", fast, tc.fast)
			}
			var c Context
			err := c.UnmarshalJSON([]byte(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error: %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if c.Trigger == nil || c.Widgets == nil || c.Flow.Data == nil || c.Flow.Variables == nil {
				t.Errorf("a map was left nil: %#v", c)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// FuzzContextJSON checks that the fast path takes only valid JSON and
// decodes it exactly as encoding/json does, and that what it decoded
// encodes back to a document that the fast path takes and that encodes the
// same again (a float with a whole value, such as -3e2, comes back as an
// int64: both encode as -300).
func FuzzContextJSON(f *testing.F) {
	sample, err := json.Marshal(sampleContext())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(sample), `null`, `{}`, `{"trigger":{"a":[1,2.5,-3e2,"s",null,true]}}`,
		`{"flow":{"flow_sid":"FW1","sid":"FN1","channel":{"address":"+1"},"data":{},"variables":{"x":"\u00e9"}}}`,
		`{"widgets":{"a":"\ud800\udc00"}}`, `{"contact":{"channel":{"address":null}}}`,
		`"top"`, ` -12.5e-3 `, `[{"a":[]}, 1]`, `{"a":1}]`, `1 2`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The input as a Go string, invalid UTF-8 and all, encodes as
		// json.Marshal encodes it.
		if got, want := appendString(nil, string(b)), must(json.Marshal(string(b))); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, json.Marshal %s", b, got, want)
		}
		// Any value, as a Function's body or a JSON variable is decoded.
		if v, ok := decodeJSON(b); ok {
			want, wok := decodeJSONSlow(b)
			if !wok || !reflect.DeepEqual(v, want) {
				t.Fatalf("decodeJSON(%q) = %#v, the decoder gives %#v (%v)", b, v, want, wok)
			}
		}
		fast, ok := fastDecode(b)
		if !ok {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("the fast path took invalid JSON %q", b)
		}
		want, err := referenceDecode(b)
		if err != nil {
			t.Fatalf("the fast path took %q, encoding/json refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%q\nfast %#v\nwant %#v", b, fast, want)
		}
		again, err := json.Marshal(fast)
		if want, werr := json.Marshal((*plainContext)(&fast)); (err != nil) != (werr != nil) || string(again) != string(want) {
			t.Fatalf("%q: MarshalJSON gives %s (%v), reflection %s (%v)", b, again, err, want, werr)
		}
		if err != nil {
			return // ±Inf from an out-of-range number cannot be encoded
		}
		back, ok := fastDecode(again)
		if !ok {
			t.Fatalf("%q encodes to %s, which the fast path gives up on", b, again)
		}
		if third, err := json.Marshal(back); err != nil || string(third) != string(again) {
			t.Fatalf("%q encodes to %s, then to %s (%v)", b, again, third, err)
		}
	})
}

func sampleExecutions() map[string]*Execution {
	created := time.Date(2026, 12, 7, 20, 51, 3, 123456789, time.UTC)
	waiting := &Execution{
		Sid: "FN00000000000000000000000000000001", FlowSid: "FW00000000000000000000000000000001", FlowRevision: 3,
		Status: StatusActive, TriggerEvent: "incomingConversationMessage", ConversationSid: "CH00000000000000000000000000000001",
		Context: sampleContext(), StepCount: 2, LastStepSid: "FT00000000000000000000000000000002", LastWidget: "ask", Repeats: 1,
		Wait:        &Wait{Widget: "ask", Until: created.Add(time.Hour), Subflow: "FW00000000000000000000000000000002"},
		DateCreated: created, DateUpdated: created.In(time.FixedZone("", -5*3600)),
	}
	sub := *waiting
	sub.Subflow = &Frame{Widget: "sub", FlowSid: "FW00000000000000000000000000000002", Revision: 1, Parent: sampleContext(), ParentStepSid: "FT1"}
	ended := &Execution{Sid: "FN2", FlowSid: "FW1", Status: StatusEnded, EndedReason: EndedError, EndedCode: 81000, EndedError: "too <many> & more",
		TriggerEvent: "incomingRequest", Context: sampleContext(), DateCreated: created, DateUpdated: created}
	stored := *waiting
	stored.Context = Context{}
	return map[string]*Execution{"waiting": waiting, "subflow": &sub, "ended": ended, "without context": &stored, "zero": {}}
}

func TestExecutionJSONMatchesReflection(t *testing.T) {
	for name, x := range sampleExecutions() {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal((*plainExecution)(x))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("MarshalJSON\n got %s\nwant %s", got, want)
			}
			var fast Execution
			d := contextDecoder{data: got}
			if !d.execution(&fast) || !d.end() {
				t.Fatalf("the fast path gave up on %s", got)
			}
			var ref Execution
			if err := json.Unmarshal(got, (*plainExecution)(&ref)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fast, ref) {
				t.Errorf("fast path\n got %#v\nwant %#v", fast, ref)
			}
		})
	}
}

func TestExecutionUnmarshalIntoNonZero(t *testing.T) {
	// encoding/json keeps what the document leaves out; so must we.
	x := Execution{Sid: "FN1", StepCount: 4}
	if err := json.Unmarshal([]byte(`{"status":"active"}`), &x); err != nil {
		t.Fatal(err)
	}
	if x.Sid != "FN1" || x.StepCount != 4 || x.Status != StatusActive {
		t.Errorf("got %#v", x)
	}
	var y Execution
	for _, bad := range []string{`{"step_count":1.5}`, `{"step_count":"1"}`, `{"date_created":"yesterday"}`, `{"wait":[]}`} {
		if err := json.Unmarshal([]byte(bad), &y); err == nil {
			t.Errorf("%s: no error", bad)
		}
		y = Execution{}
	}
}

// FuzzExecutionJSON is FuzzContextJSON for a whole execution.
func FuzzExecutionJSON(f *testing.F) {
	for _, x := range sampleExecutions() {
		b, err := json.Marshal(x)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"flow_revision":99999999999999999999,"wait":null,"subflow":{"parent":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Execution
		d := contextDecoder{data: b}
		if !d.execution(&fast) || !d.end() {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("the fast path took invalid JSON %q", b)
		}
		var ref Execution
		if err := json.Unmarshal(b, (*plainExecution)(&ref)); err != nil {
			t.Fatalf("the fast path took %q, encoding/json refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q\nfast %#v\nwant %#v", b, fast, ref)
		}
		got, gerr := json.Marshal(&fast)
		want, werr := json.Marshal((*plainExecution)(&fast))
		if (gerr != nil) != (werr != nil) || string(got) != string(want) {
			t.Fatalf("%q: MarshalJSON gives %s (%v), reflection %s (%v)", b, got, gerr, want, werr)
		}
	})
}
