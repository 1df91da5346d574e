package predicate_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/convoflow/convoflow/services/flow/engine/predicate"
)

func TestTypes(t *testing.T) {
	t.Parallel()
	// The list from studio.md §4.2, in the order of the docs.
	want := []string{
		"equal_to", "not_equal_to", "matches_any_of", "does_not_match_any_of", "is_blank", "is_not_blank",
		"regex", "contains", "does_not_contain", "starts_with", "does_not_start_with", "less_than",
		"greater_than", "is_before_time", "is_after_time", "is_before_date", "is_after_date",
	}
	slices.Sort(want)
	got := predicate.Types()
	if !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if predicate.Types()[0] == "mutated" {
		t.Error("Types() returned its internal slice")
	}
	for _, typ := range want {
		if !predicate.Known(typ) {
			t.Errorf("Known(%q) = false", typ)
		}
	}
	for _, typ := range []string{"", "ends_with", "EQUAL_TO", "equal_to ", "greater_than_or_equal"} {
		if predicate.Known(typ) {
			t.Errorf("Known(%q) = true", typ)
		}
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	type c struct {
		subject, value string
		want           bool
	}
	tests := map[string][]c{
		"equal_to": {
			{"yes", "yes", true},
			{"YES", "yes", true},
			{"  Yes\n", "yes ", true},
			{"yes.", "yes", false},
			{"", "", true},
			{"  ", "", true},
			{"a", "", false},
			{"Straße", "STRASSE", false}, // simple case folding only, as EqualFold
			{"ÉCOLE", "école", true},
		},
		"not_equal_to": {
			{"yes", "YES", false},
			{"yes", "no", true},
			{" no ", "No", false},
		},
		"matches_any_of": {
			{"yes", "yes,yeah,yup", true},
			{"Yeah", "yes,yeah,yup", true},
			{"y", "YES, Yes, yes, Y, y", true},
			{" YUP ", "yes , yeah ,  yup", true},
			{"ye", "yes,yeah,yup", false},
			{"yes,yeah", "yes,yeah", false}, // the subject is one item, never a list
			{"", "yes,,no", false},          // empty items are ignored
			{"", " , ", false},
			{"", "", false},
			{"no", "yes,Yes", false},
		},
		"does_not_match_any_of": {
			{"no", "yes,yeah", true},
			{"YEAH", "yes,yeah", false},
			{"", "yes,,no", true},
			{"anything", "", true},
		},
		"is_blank": {
			{"", "ignored", true},
			{" \t\n", "", true},
			{"\u00a0", "", true}, // no-break space is whitespace for strings.TrimSpace
			{".", "", false},
			{" a ", "", false},
		},
		"is_not_blank": {
			{"", "", false},
			{"   ", "x", false},
			{"0", "", true},
		},
		"regex": {
			{"5", "[1-5]", true},
			{"6", "[1-5]", false},
			{"15", "[1-5]", false}, // whole-string match, not a search
			{"abc", "b", false},
			{"abc", ".*b.*", true},
			{"HELLO", "hel+o", true}, // case-insensitive
			{"  hello  ", "hello", true},
			{"b", "a|b", true}, // alternation stays inside the anchors
			{"ab", "a|b", false},
			{"", "", true},
			{"x", "", false},
			{"+14155550100", `\+1\d{10}`, true},
		},
		"contains": {
			{"aab", "aa", true},
			{"aab", "A", true},
			{"AAB", " ab ", true},
			{"aab", "c", false},
			{"anything", "", true},
			{"", "", true},
			{"", "a", false},
		},
		"does_not_contain": {
			{"aab", "AB", false},
			{"aab", "ba", true},
			{"anything", "", false},
		},
		"starts_with": {
			{" Hoot", "hoo", true},
			{"Hoot", "oot", false},
			{"hoot", "HOOT", true},
			{"ho", "hoot", false},
			{"x", "", true},
		},
		"does_not_start_with": {
			{" Hoot", "hoo", false},
			{"Hoot", "oot", true},
		},
		"less_than": {
			{"1", "2", true},
			{"2", "2", false},
			{"3", "2", false},
			{" 1.5 ", " 2 ", true},
			{"-10", "-2", true},
			{"9", "10", true}, // numeric, not lexical
			{"1e2", "101", true},
			{".5", "1", true},
			{"+1", "2", true},
			{"abc", "2", false},
			{"2", "abc", false},
			{"a", "b", false}, // does not compare letters
			{"", "1", false},
			{"1", "", false},
			{"0x10", "100", false},
			{"Inf", "1", false},
			{"NaN", "1", false},
			{"1_000", "2000", false},
			{"1,000", "2000", false},
			{"1e400", "1", false}, // overflows to +Inf: still greater
			{"-1e400", "1", true},
		},
		"greater_than": {
			{"3", "2", true},
			{"2", "2", false},
			{"2.0", "2", false},
			{"10", "9", true},
			{"abc", "2", false},
			{"2", "abc", false},
			{"1e400", "1", true},
		},
		"is_before_time": {
			{"16:35", "17:00", true},
			{"17:00", "16:35", false},
			{"17:00", "17:00", false}, // strict
			{"00:00", "23:59", true},
			{" 09:05 ", "09:06", true},
			{"9:05", "10:00", false}, // leading zero required
			{"09:05:00", "10:00", false},
			{"24:00", "23:59", false},
			{"12:60", "23:59", false},
			{"ab:cd", "10:00", false},
			{"", "10:00", false},
			{"10:00", "", false},
			{"10:00", "9:00", false},
		},
		"is_after_time": {
			{"17:00", "16:35", true},
			{"16:35", "17:00", false},
			{"17:00", "17:00", false},
			{"9:05", "08:00", false}, // malformed is neither before nor after
			{"23:59", "00:00", true},
		},
		"is_before_date": {
			{"2017-09-04", "2019-08-12", true},
			{"2019-08-12", "2017-09-04", false},
			{"2019-08-12", "2019-08-12", false},
			{"2019-12-31", "2020-01-01", true},
			{" 2019-01-01 ", "2019-01-02", true},
			{"2019-1-1", "2020-01-01", false},
			{"2023-02-29", "2024-01-01", false}, // not a real date
			{"2024-02-29", "2024-03-01", true},
			{"-024-01-01", "2024-01-01", false},
			{"2019-01-01T00:00:00Z", "2020-01-01", false},
			{"", "2020-01-01", false},
			{"2019-01-01", "", false},
		},
		"is_after_date": {
			{"2019-08-12", "2017-09-04", true},
			{"2017-09-04", "2019-08-12", false},
			{"2019-08-12", "2019-08-12", false},
			{"12/08/2019", "2017-09-04", false},
		},
	}
	if len(tests) != len(predicate.Types()) {
		t.Errorf("table covers %d types, want all %d", len(tests), len(predicate.Types()))
	}
	for typ, cases := range tests {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				got, err := predicate.Eval(typ, tc.subject, tc.value)
				if err != nil {
					t.Errorf("Eval(%q, %q, %q) error: %v", typ, tc.subject, tc.value, err)
					continue
				}
				if got != tc.want {
					t.Errorf("Eval(%q, %q, %q) = %v, want %v", typ, tc.subject, tc.value, got, tc.want)
				}
			}
		})
	}
}

// TestEvalNegations checks that each negated predicate is the exact opposite
// of its positive form, on inputs drawn from the tables above.
func TestEvalNegations(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{"equal_to", "not_equal_to"},
		{"matches_any_of", "does_not_match_any_of"},
		{"is_blank", "is_not_blank"},
		{"contains", "does_not_contain"},
		{"starts_with", "does_not_start_with"},
	}
	inputs := [][2]string{{"", ""}, {" a ", "A"}, {"yes", "no,yes"}, {"abc", "ab"}, {"x", " "}, {"Hoot", "hoo"}}
	for _, p := range pairs {
		for _, in := range inputs {
			pos, err1 := predicate.Eval(p[0], in[0], in[1])
			neg, err2 := predicate.Eval(p[1], in[0], in[1])
			if err1 != nil || err2 != nil {
				t.Fatalf("errors: %v, %v", err1, err2)
			}
			if pos == neg {
				t.Errorf("%s and %s agree (%v) on %q, %q", p[0], p[1], pos, in[0], in[1])
			}
		}
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	if _, err := predicate.Eval("ends_with", "a", "a"); !errors.Is(err, predicate.ErrUnknownType) {
		t.Errorf("unknown type: error %v, want ErrUnknownType", err)
	} else if !strings.Contains(err.Error(), `"ends_with"`) || !strings.Contains(err.Error(), "equal_to") {
		t.Errorf("unknown type error %q should name the type and the known ones", err)
	}
	for _, bad := range []string{"[1-5", "(a", "a**", `\p{Nope}`} {
		if _, err := predicate.Eval("regex", "a", bad); err == nil || !strings.Contains(err.Error(), "does not compile") {
			t.Errorf("regex %q: error %v, want a compile error", bad, err)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, value string
		wantErr          string // substring; empty for no error
	}{
		{"equal_to_anything", "equal_to", "", ""},
		{"unknown_type", "ends_with", "x", "unknown predicate type"},
		{"empty_type", "", "x", "unknown predicate type"},
		{"regex_ok", "regex", `^\d{5}$`, ""},
		{"regex_bad", "regex", "[1-5", "does not compile"},
		{"regex_liquid_skipped", "regex", "{{flow.variables.pattern}}[", ""},
		{"regex_liquid_tag_skipped", "regex", "{% if x %}[{% endif %}", ""},
		{"time_ok", "is_before_time", "17:00", ""},
		{"time_ok_trimmed", "is_after_time", " 09:30 ", ""},
		{"time_no_leading_zero", "is_before_time", "9:30", "HH:MM"},
		{"time_out_of_range", "is_after_time", "25:00", "HH:MM"},
		{"time_empty", "is_after_time", "", "HH:MM"},
		{"time_liquid", "is_before_time", "{{flow.variables.closing}}", ""},
		{"date_ok", "is_before_date", "2024-08-12", ""},
		{"date_bad_shape", "is_after_date", "08/12/2024", "YYYY-MM-DD"},
		{"date_impossible", "is_after_date", "2023-02-29", "YYYY-MM-DD"},
		{"date_liquid", "is_after_date", "{{ 'now' | date: '%Y-%m-%d' }}", ""},
		{"numbers_not_checked", "less_than", "abc", ""},
		{"blank_ignores_value", "is_blank", "[", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := predicate.Check(tc.typ, tc.value)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Check(%q, %q) = %v, want nil", tc.typ, tc.value, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Check(%q, %q) = %v, want an error containing %q", tc.typ, tc.value, err, tc.wantErr)
			}
		})
	}
}

// TestRegexCacheConcurrent runs many goroutines over more distinct patterns
// than the cache holds, so that the race detector sees lookups, inserts and
// evictions interleave, and checks every answer stays right.
func TestRegexCacheConcurrent(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 400 {
				n := (g*400 + i) % 1500
				pattern := fmt.Sprintf(`item-%d`, n)
				ok, err := predicate.Eval("regex", fmt.Sprintf("ITEM-%d", n), pattern)
				if err != nil || !ok {
					t.Errorf("Eval(regex, ITEM-%d, %s) = %v, %v", n, pattern, ok, err)
					return
				}
				if ok, _ := predicate.Eval("regex", fmt.Sprintf("item-%d0", n), pattern); ok {
					t.Errorf("pattern %s matched a longer subject", pattern)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkEval(b *testing.B) {
	b.Run("regex_cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := predicate.Eval("regex", " 94107 ", `\d{5}`); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("matches_any_of", func(b *testing.B) {
		for b.Loop() {
			if _, err := predicate.Eval("matches_any_of", "Yup", "YES, Yes, yes, Y, y, yeah, yup"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ExampleEval() {
	ok, _ := predicate.Eval("matches_any_of", " Yes ", "yes, yeah, yup")
	fmt.Println(ok)
	ok, _ = predicate.Eval("regex", "6", "[1-5]")
	fmt.Println(ok)
	ok, _ = predicate.Eval("greater_than", "ten", "5")
	fmt.Println(ok)
	// Output:
	// true
	// false
	// false
}

// FuzzEval checks that no predicate panics on any subject and value, that
// only regex can fail (and only when Check rejects the same value), and
// that each negated predicate is the opposite of its positive form.
func FuzzEval(f *testing.F) {
	for _, seed := range [][2]string{
		{"yes", "yes,yeah"}, {" 16:35 ", "17:00"}, {"2019-08-12", "2017-09-04"}, {"6", "[1-5]"}, {"1e400", "-.5"}, {"", ""}, {"é", "É"},
	} {
		f.Add(seed[0], seed[1])
	}
	negations := map[string]string{
		"not_equal_to": "equal_to", "does_not_match_any_of": "matches_any_of", "is_not_blank": "is_blank",
		"does_not_contain": "contains", "does_not_start_with": "starts_with",
	}
	f.Fuzz(func(t *testing.T, subject, value string) {
		results := map[string]bool{}
		for _, typ := range predicate.Types() {
			ok, err := predicate.Eval(typ, subject, value)
			if err != nil {
				if typ != "regex" {
					t.Fatalf("Eval(%q, %q, %q) error: %v", typ, subject, value, err)
				}
				if predicate.Check(typ, value) == nil && !strings.Contains(value, "{{") && !strings.Contains(value, "{%") {
					t.Fatalf("regex %q fails Eval but passes Check", value)
				}
				continue
			}
			results[typ] = ok
		}
		for neg, pos := range negations {
			if results[neg] == results[pos] {
				t.Fatalf("%s and %s agree on %q, %q", neg, pos, subject, value)
			}
		}
		if results["less_than"] && results["greater_than"] {
			t.Fatalf("%q is both less and greater than %q", subject, value)
		}
	})
}
