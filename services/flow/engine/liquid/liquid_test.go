package liquid_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/convoflow/convoflow/services/flow/engine/liquid"
)

// fixedNow is the injected clock: 18:30 UTC is 11:30 PDT in Los Angeles.
var fixedNow = time.Date(2024, time.July, 4, 18, 30, 0, 0, time.UTC)

func newRenderer(tb testing.TB) *liquid.Renderer {
	tb.Helper()
	return liquid.New(liquid.Options{Now: func() time.Time { return fixedNow }})
}

// studioContext is a realistic execution context, shaped as the engine
// builds it from a Conversations trigger, typed flow variables and widget
// outputs decoded from JSON (so numbers are float64 or json.Number).
func studioContext() map[string]any {
	return map[string]any{
		"trigger": map[string]any{
			"conversation": map[string]any{
				"ConversationSid": "CH00000000000000000000000000000001",
				"Body":            "  Yes ",
				"Author":          "+14155550100",
				"Source":          "SMS",
				"DateCreated":     "2024-01-15T20:00:00Z",
			},
		},
		"flow": map[string]any{
			"flow_sid": "FW00000000000000000000000000000001",
			"channel":  map[string]any{"address": "+14155550199"},
			"data": map[string]any{
				"event_type": "APPOINTMENT_BOOKED",
				"a":          map[string]any{"b": "deep"},
			},
			"variables": map[string]any{
				"count":     float64(2),
				"big_count": json.Number("41"),
				"str_count": "1",
				"phone":     float64(14155550100),
				"ratio":     0.25,
				"huge":      1e21,
				"tiny":      1e-7,
				"list":      []any{"a", "b"},
				"empty":     "",
			},
		},
		"contact": map[string]any{"channel": map[string]any{"address": "+14155550100"}},
		"widgets": map[string]any{
			"http_1": map[string]any{
				"status_code":  float64(200),
				"content_type": "application/json",
				"body":         `{"result":[{"question":"Q1"},{"question":"Q2"}]}`,
				"parsed": map[string]any{
					"result": []any{
						map[string]any{"question": "Q1", "points": float64(3), "rank": json.Number("1")},
						map[string]any{"question": "Q2", "points": float64(4.5), "rank": json.Number("2")},
					},
				},
				"headers": map[string]any{"x-twilio-function-concurrency": "3", "content-type": "application/json"},
			},
			"send_and_reply_1": map[string]any{"inbound": map[string]any{"Body": "No."}},
		},
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	tests := []struct {
		name, src, want string
	}{
		{"plain_text", "Hello there", "Hello there"},
		{"plain_text_with_braces", "a { b } c {x}", "a { b } c {x}"},
		{"empty", "", ""},
		{"trigger_body", "You said: {{trigger.conversation.Body}}", "You said:   Yes "},
		{"flow_sid", "{{flow.flow_sid}}", "FW00000000000000000000000000000001"},
		{"nested_flow_data", "{{flow.data.a.b}}", "deep"},
		{"contact_address", "{{contact.channel.address}}", "+14155550100"},

		// Lax: undefined renders as "".
		{"undefined_variable", "[{{flow.variables.nope}}]", "[]"},
		{"undefined_deep", "[{{nope.deeper.still}}]", "[]"},
		{"undefined_widget", "[{{widgets.never_ran.parsed.x}}]", "[]"},
		{"undefined_in_if", "{% if flow.variables.nope %}yes{% else %}no{% endif %}", "no"},

		// The official counter idiom, with every number type the engine holds.
		{"counter_float", "{% if flow.variables.count %}{{flow.variables.count | plus: 1}}{% else %}1{% endif %}", "3"},
		{"counter_missing", "{% if flow.variables.missing %}{{flow.variables.missing | plus: 1}}{% else %}1{% endif %}", "1"},
		{"counter_json_number", "{{flow.variables.big_count | plus: 1}}", "42"},
		{"counter_string", "{{flow.variables.str_count | plus: 1}}", "2"}, // a string plus an integer is an integer
		{"faq_plus_zero", "{{flow.variables.str_count | plus: 0}}", "1"},

		// Numbers print as Studio users expect.
		{"integral_float", "{{flow.variables.count}}", "2"},
		{"float_literal", "{{ 3.0 }}", "3"},
		{"phone_number_float", "{{flow.variables.phone}}", "14155550100"},
		{"fraction", "{{flow.variables.ratio}}", "0.25"},
		{"json_number", "{{flow.variables.big_count}}", "41"},
		{"status_code", "{{widgets.http_1.status_code}}", "200"},
		{"times", "{{ 3 | times: 1.5 }}", "4.5"},
		{"divided_by_integers", "{{ 7 | divided_by: 2 }}", "3"},
		{"divided_by_negative", "{{ -7 | divided_by: 2 }}", "-4"},
		{"divided_by_float", "{{ 7.5 | divided_by: 2 }}", "3.75"},
		{"huge_float", "{{ flow.variables.huge }}", "1e+21"},
		{"tiny_float", "{{ flow.variables.tiny }}", "1e-7"},
		{"round", "{{ 3.14159 | round: 2 }}", "3.14"},

		// Objects and arrays render as JSON.
		{"object_as_json", "{{widgets.http_1.parsed.result[0]}}", `{"points":3,"question":"Q1","rank":1}`},
		{"array_as_json", "{{flow.variables.list}}", `["a","b"]`},
		{"nested_as_json", "{{flow.data}}", `{"a":{"b":"deep"},"event_type":"APPOINTMENT_BOOKED"}`},
		{"json_no_html_escape", `{{ widgets.http_1.headers | to_json }}`, `{"content-type":"application/json","x-twilio-function-concurrency":"3"}`},
		{"to_json_object", "{{widgets.http_1.parsed | to_json}}", `{"result":[{"points":3,"question":"Q1","rank":1},{"points":4.5,"question":"Q2","rank":2}]}`},
		{"to_json_string", `{{ 'say "hi"' | to_json }}`, `"say \"hi\""`},
		{"to_json_undefined", "{{ nope | to_json }}", "null"},
		{"json_body_built_in_liquid", `{"to":"{{contact.channel.address}}","n":{{flow.variables.count}}}`, `{"to":"+14155550100","n":2}`},

		// Iteration and access.
		{"for_over_parsed_array", "{% for item in widgets.http_1.parsed.result %}{{ item.question }};{% endfor %}", "Q1;Q2;"},
		{"for_forloop_index", "{% for x in flow.variables.list %}{{forloop.index}}{{x}}{% endfor %}", "1a2b"},
		{"for_else_undefined", "{% for x in flow.variables.nope %}x{% else %}none{% endfor %}", "none"},
		{"for_else_not_a_list", "{% for x in flow.variables.count %}x{% else %}none{% endfor %}", "none"},
		{"for_else_empty", "{% for x in flow.variables.list limit: 0 %}x{% else %}none{% endfor %}", "none"},
		{"for_else_items", "{% for x in flow.variables.list %}{{x}}{% else %}none{% endfor %}", "ab"},
		{"for_undefined_no_else", "[{% for x in flow.variables.nope %}x{% endfor %}]", "[]"},
		{"bracket_access", `{{ widgets.http_1.headers["x-twilio-function-concurrency"] }}`, "3"},
		{"bracket_index", "{{ flow.variables.list[1] }}", "b"},
		{"first_last_size", "{{ flow.variables.list.first }}{{ flow.variables.list.last }}{{ flow.variables.list.size }}", "ab2"},
		{"whitespace_control", "{%- for x in flow.variables.list -%} {{ x }} {%- endfor -%}", "ab"},
		{"assign_and_capture", "{% assign n = 2 | plus: 3 %}{% capture s %}n={{n}}{% endcapture %}{{s}}", "n=5"},
		{"case_when", "{% case flow.data.event_type %}{% when 'APPOINTMENT_BOOKED' %}booked{% else %}other{% endcase %}", "booked"},
		{"comparison", "{% if widgets.http_1.status_code == 200 %}ok{% endif %}", "ok"},
		{"json_number_compared", "{% if flow.variables.big_count > 40 %}gt{% endif %}{% unless flow.variables.big_count == 41 %}ne{% endunless %}", "gt"},
		{"json_number_case", "{% case flow.variables.big_count %}{% when 41 %}41{% else %}other{% endcase %}", "41"},
		{"json_number_in_loop", "{% for r in widgets.http_1.parsed.result %}{% if r.rank < 2 %}{{ r.question }}{% endif %}{% endfor %}", "Q1"},
		{"string_one_is_not_number_one", "{% if flow.variables.str_count == 1 %}eq{% else %}ne{% endif %}", "ne"}, // the Studio FAQ's pitfall
		{"raw", "{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}"},
		{"comment", "a{% comment %}{{ x }}{% endcomment %}b", "ab"},
		{"cycle", "{% for x in (1..3) %}{% cycle 'a', 'b' %}{% endfor %}", "aba"},

		// Filters Studio documents or users rely on.
		{"faq_replace", "{{ widgets.send_and_reply_1.inbound.Body | replace: '.', '' }}", "No"},
		{"url_encode", "{{ 'a b&c=d/é' | url_encode }}", "a+b%26c%3Dd%2F%C3%A9"},
		{"default_undefined", "{{ flow.variables.nope | default: 'x' }}", "x"},
		{"default_empty", "{{ flow.variables.empty | default: 'x' }}", "x"},
		{"default_set", "{{ flow.variables.count | default: 'x' }}", "2"},
		{"size_string", "{{ 'héllo' | size }}", "5"},
		{"size_array", "{{ widgets.http_1.parsed.result | size }}", "2"},
		{"size_object", "{{ flow.data | size }}", "2"},
		{"downcase_strip", "{{ trigger.conversation.Body | strip | downcase }}", "yes"},
		{"capitalize", "{{ 'éCOLE normale' | capitalize }}", "École normale"},
		{"split_join", "{{ 'a,b,c' | split: ',' | join: '-' }}", "a-b-c"},
		{"truncate", "{{ 'Hello world' | truncate: 8 }}", "Hello..."},
		{"truncate_tiny", "{{ 'Hello world' | truncate: 1 }}", "..."},
		{"truncate_negative", "{{ 'Hello' | truncate: -5 }}", "..."},
		{"truncatewords", "{{ 'one two three four' | truncatewords: 2 }}", "one two..."},
		{"truncatewords_negative", "{{ 'one two' | truncatewords: -1 }}", "one..."},
		{"slice", "{{ 'Liquid' | slice: 2, 3 }}", "qui"},
		{"slice_negative_start", "{{ 'Liquid' | slice: -3, 2 }}", "ui"},
		{"slice_negative_length", "{{ 'Liquid' | slice: 0, -2 }}", ""},
		{"slice_array", "{{ flow.variables.list | slice: 1, 5 }}", `["b"]`},
		{"at_least_at_most", "{{ 4 | at_least: 5 }} {{ 4 | at_most: 3 }}", "5 3"},
		{"sum_property", "{{ widgets.http_1.parsed.result | sum: 'points' }}", "7.5"},
		{"where", "{{ widgets.http_1.parsed.result | where: 'question', 'Q2' | map: 'points' | first }}", "4.5"},
		{"remove_last_replace_last", "{{ 'a-b-c' | remove_last: '-' }} {{ 'a-b-c' | replace_last: '-', '+' }}", "a-bc a-b+c"},
		{"base64", "{{ 'user:pass' | base64_encode }} {{ 'dXNlcjpwYXNz' | base64_decode }}", "dXNlcjpwYXNz user:pass"},
		{"append_prepend", "{{ 'b' | append: 'c' | prepend: 'a' }}", "abc"},
		{"append_number", "{{ flow.variables.phone | append: '' }} {{ 'n=' | append: flow.variables.count }}", "14155550100 n=2"},
		{"replace_number", "{{ flow.variables.phone | replace: '1415', '' }}", "5550100"},

		// Dates on the injected clock, in Studio's Pacific time.
		{"date_now", "{{ 'now' | date: '%Y-%m-%d %H:%M %Z' }}", "2024-07-04 11:30 PDT"},
		{"date_today", "{{ 'today' | date: '%A %B %e' }}", "Thursday July  4"},
		{"date_iso_input", "{{ trigger.conversation.DateCreated | date: '%b %d %I:%M %p %Z' }}", "Jan 15 12:00 PM PST"},
		{"date_unix_seconds", "{{ 0 | date: '%Y-%m-%d %H:%M' }}", "1969-12-31 16:00"},
		{"date_unix_string", "{{ '86400' | date: '%Y-%m-%d' }}", "1970-01-01"},
		{"date_zoneless_input", "{{ '2024-03-10 09:15' | date: '%H:%M %z' }}", "09:15 -0700"},
		{"date_not_a_date", "{{ 'soon' | date: '%Y' }}", "soon"},
		{"date_width_flags", "{{ 'now' | date: '%-d/%-m %3N %06Y' }}", "4/7 000 002024"},
		{"date_no_format", "{{ '2024-01-02' | date }}", "2024-01-02"},
		{"date_undefined", "[{{ nope | date: '%Y' }}]", "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := r.Render(tc.src, studioContext())
			if err != nil {
				t.Fatalf("Render(%q) error: %v", tc.src, err)
			}
			if got != tc.want {
				t.Errorf("Render(%q)\n got %q\nwant %q", tc.src, got, tc.want)
			}
		})
	}
}

func TestRenderTimeZone(t *testing.T) {
	t.Parallel()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	r := liquid.New(liquid.Options{Location: tokyo, Now: func() time.Time { return fixedNow }})
	got, err := r.Render("{{ 'now' | date: '%Y-%m-%d %H:%M %Z' }}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2024-07-05 03:30 JST"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	big := strings.Repeat("x", 1200)
	vars := map[string]any{"big": big, "items": make([]any, 20)}
	tests := []struct {
		name, src string
		want      error  // wrapped sentinel, or nil for any render error
		contains  string // in the message
	}{
		{"unclosed_for", "{% for x in y %}", liquid.ErrSyntax, "for"},
		{"unclosed_if", "{% if x %}yes", liquid.ErrSyntax, "if"},
		{"stray_endfor", "{% endfor %}", liquid.ErrSyntax, ""},
		{"unknown_tag", "{% bogus %}", liquid.ErrSyntax, "bogus"},
		{"bad_expression", "{{ a | }}", liquid.ErrSyntax, ""},
		{"include_refused", "{% include 'secrets.txt' %}", liquid.ErrSyntax, "include"},
		// Found by FuzzRender: inputs on which the library itself panics.
		{"integer_literal_overflow", "{{ 100000000000000000000000000000 }}", liquid.ErrSyntax, "parser failed"},
		{"statement_selector_in_markup", "{%case {%when 0%}{%endcase%}", liquid.ErrSyntax, "invalid markup"},

		{"loop_16_iterations", "{% for i in (1..16) %}{{i}}{% endfor %}", liquid.ErrLoopLimit, "for i in (1..16)"},
		{"loop_over_array", "{% for i in items %}.{% endfor %}", liquid.ErrLoopLimit, "20 items"},
		{"tablerow", "{% tablerow i in (1..16) %}{{i}}{% endtablerow %}", liquid.ErrLoopLimit, ""},
		{"nested_total", "{% for a in (1..15) %}{% for b in (1..15) %}{% for c in (1..15) %}{% for d in (1..2) %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}", liquid.ErrLoopLimit, "all loops"},

		{"output_over_16kb", "{% for i in (1..14) %}{{ big }}{% endfor %}", liquid.ErrOutputTooLarge, ""},
		{"plain_over_16kb", strings.Repeat("y", liquid.MaxOutputBytes+1), liquid.ErrOutputTooLarge, ""},
		{"doubling_string", "{% assign s = big %}{% for i in (1..15) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}", liquid.ErrOutputTooLarge, ""},
		{"doubling_capture", "{% assign s = big %}{% for i in (1..15) %}{% capture s %}{{s}}{{s}}{% endcapture %}{% endfor %}{{ s | size }}", liquid.ErrOutputTooLarge, ""},
		{"date_width_bomb", "{{ 'now' | date: '%999999999Y' }}", nil, "width"},
		{"date_width_bomb_flags", "{{ 'now' | date: '%Y %-065d' }}", nil, "width"},

		{"undefined_filter", "{{ big | no_such_filter }}", nil, "no_such_filter"},
		{"division_by_zero", "{{ 1 | divided_by: 0 }}", nil, "division by zero"},
		{"cycle_outside_loop", "{% assign forloop = 1 %}{% cycle 'a', 'b' %}", nil, "cycle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := r.Render(tc.src, vars)
			if err == nil {
				t.Fatalf("Render succeeded with %d bytes, want an error", len(out))
			}
			var te *liquid.TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("error %T %v is not a *TemplateError", err, err)
			}
			if te.Template != tc.src {
				t.Errorf("TemplateError.Template = %.40q, want the source", te.Template)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v does not wrap %v", err, tc.want)
			}
			if errors.Is(err, liquid.ErrInternal) {
				t.Errorf("error %v is an internal error", err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not mention %q", err, tc.contains)
			}
			if out != "" {
				t.Errorf("output %q alongside an error", out)
			}
		})
	}
}

// TestRenderLimitsBoundary pins the exact limits: 15 iterations and 16384
// bytes pass; what breaks a loop early or limits it stays legal.
func TestRenderLimitsBoundary(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	vars := map[string]any{"items": make([]any, 40), "chunk": strings.Repeat("z", 1024)}
	tests := []struct {
		name, src string
		wantLen   int
	}{
		{"fifteen_iterations", "{% for i in (1..15) %}x{% endfor %}", 15},
		{"limit_keeps_it_legal", "{% for i in items limit: 15 %}x{% endfor %}", 15},
		{"offset_keeps_it_legal", "{% for i in items offset: 30 %}x{% endfor %}", 10},
		{"break_keeps_it_legal", "{% for i in items %}{% if forloop.index == 5 %}{% break %}{% endif %}x{% endfor %}", 4},
		{"nested_fifteen_by_fifteen", "{% for a in (1..15) %}{% for b in (1..15) %}x{% endfor %}{% endfor %}", 225},
		{"exactly_16kb", "{% for i in (1..15) %}{{ chunk }}{% endfor %}" + strings.Repeat("w", 1024), liquid.MaxOutputBytes},
		{"plain_exactly_16kb", strings.Repeat("p", liquid.MaxOutputBytes), liquid.MaxOutputBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := r.Render(tc.src, vars)
			if err != nil {
				t.Fatalf("Render error: %v", err)
			}
			if len(out) != tc.wantLen {
				t.Errorf("output is %d bytes, want %d", len(out), tc.wantLen)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	valid := []string{
		"", "no markup", "{{flow.variables.count | plus: 1}}",
		"Hi {{ name", // an unclosed {{ is text to the library, as in lax Shopify
		"{% for item in widgets.http_1.parsed.result %}{{ item.question }}{% endfor %}",
		"{{ x | no_such_filter }}", // filters are resolved when rendering
		"{% for i in (1..100) %}{% endfor %}",
	}
	for _, src := range valid {
		if err := r.Check(src); err != nil {
			t.Errorf("Check(%q) = %v, want nil", src, err)
		}
	}
	invalid := []string{"{% if x %}", "{% if %}", "{% for x in %}{% endfor %}", "{% endif %}", "{% include 'a' %}", "{{ | }}"}
	for _, src := range invalid {
		err := r.Check(src)
		var te *liquid.TemplateError
		if !errors.As(err, &te) || !errors.Is(err, liquid.ErrSyntax) || te.Template != src {
			t.Errorf("Check(%q) = %v, want a *TemplateError wrapping ErrSyntax", src, err)
		}
	}
}

func TestTemplateErrorMessage(t *testing.T) {
	t.Parallel()
	long := "{% if x %}" + strings.Repeat("é", 200)
	err := newRenderer(t).Check(long)
	if err == nil {
		t.Fatal("no error")
	}
	if msg := err.Error(); len(msg) > 400 || !strings.HasPrefix(msg, "liquid template ") || !utf8.ValidString(msg) || strings.Contains(msg, `\x`) {
		t.Errorf("message %q should start with 'liquid template ' and show only the start of the template", msg)
	}
}

// TestRenderDoesNotMutateVars checks that assign, capture and filters leave
// the caller's context alone, since the engine shares it across renders.
func TestRenderDoesNotMutateVars(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	vars := studioContext()
	src := "{% assign flow = 1 %}{% capture contact %}x{% endcapture %}" +
		"{% if widgets.http_1.parsed.result[0].rank == 1 %}{% for x in widgets.http_1.parsed.result %}{{ x.rank }}{% endfor %}{% endif %}" +
		"{{ widgets.http_1.parsed.result | sort: 'question' | reverse | first }}"
	if _, err := r.Render(src, vars); err != nil {
		t.Fatal(err)
	}
	// DeepEqual, unlike printing, tells json.Number("1") from int 1.
	if !reflect.DeepEqual(vars, studioContext()) {
		t.Errorf("vars changed: %v", vars)
	}
}

func TestRenderConcurrent(t *testing.T) {
	t.Parallel()
	r := liquid.New(liquid.Options{Now: func() time.Time { return fixedNow }, CacheSize: 8})
	vars := studioContext()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				// More distinct templates than the cache holds, so reads,
				// inserts and evictions interleave.
				n := (g + i) % 20
				src := fmt.Sprintf("{{ flow.variables.count | plus: %d }}-{%% for x in flow.variables.list %%}{{x}}{%% endfor %%}", n)
				got, err := r.Render(src, vars)
				if want := fmt.Sprintf("%d-ab", n+2); err != nil || got != want {
					t.Errorf("Render = %q, %v; want %q", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func ExampleRenderer_Render() {
	r := liquid.New(liquid.Options{})
	vars := map[string]any{
		"flow": map[string]any{"variables": map[string]any{"count": 2.0}},
		"widgets": map[string]any{"fn": map[string]any{
			"parsed": map[string]any{"name": "Ada", "tags": []any{"vip"}},
		}},
	}
	out, _ := r.Render("{% if flow.variables.count %}{{flow.variables.count | plus: 1}}{% else %}1{% endif %}", vars)
	fmt.Println(out)
	out, _ = r.Render("{{widgets.fn.parsed}} {{widgets.fn.parsed.tags}} [{{widgets.nope.x}}]", vars)
	fmt.Println(out)
	// Output:
	// 3
	// {"name":"Ada","tags":["vip"]} ["vip"] []
}

// BenchmarkRender renders, with a warm cache, a send-message body of the
// kind real flows hold (variables, a filter chain, a loop over a parsed
// function response, JSON output) against a full Studio context.
func BenchmarkRender(b *testing.B) {
	r := newRenderer(b)
	vars := studioContext()
	src := "Hi {{contact.channel.address}}, visit #{{flow.variables.count | plus: 1}} " +
		"({{ trigger.conversation.Body | strip | downcase }}). " +
		"{% for item in widgets.http_1.parsed.result %}{{forloop.index}}. {{ item.question }} {% endfor %}" +
		"{{ widgets.http_1.parsed | to_json }} at {{ 'now' | date: '%H:%M' }}"
	if _, err := r.Render(src, vars); err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Render(src, vars); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("simple_cached", func(b *testing.B) {
		// The most common widget property: a couple of variables.
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Render("Hi {{contact.channel.address}}, you said: {{trigger.conversation.Body}}", vars); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("counter_idiom_cached", func(b *testing.B) {
		// A condition: the context holds json.Number values, so they are
		// normalised first.
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Render("{% if flow.variables.count %}{{flow.variables.count | plus: 1}}{% else %}1{% endif %}", vars); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain_text", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Render("Thanks, we will be in touch.", vars); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		// The cost a cache miss adds: parse, rewrite and render.
		nocache := liquid.New(liquid.Options{CacheSize: -1, Now: func() time.Time { return fixedNow }})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := nocache.Render(src, vars); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel_cached", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.Render(src, vars); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
