package liquid

import (
	"encoding/json"
	"testing"
)

// planContext holds every kind of value a lookup can meet.
func planContext() map[string]any {
	return map[string]any{
		"flow": map[string]any{
			"data":      map[string]any{"first_name": "Ada", "size": "large", "n": json.Number("7"), "nothing": nil},
			"variables": map[string]any{"count": 2.0, "phone": 14155550100.0, "ok": true, "list": []any{"a", "b"}},
		},
		"widgets": map[string]any{
			"get-datetime-parts": map[string]any{"parsed": map[string]any{"readable_datetime": "Monday"}},
			"typed":              map[string]string{"k": "v"},
			"empty":              map[string]any{},
		},
		"s":      "text",
		"true":   "shadowed", // a variable the scanner can never name
		"ready?": "yes",
	}
}

func TestPlanFor(t *testing.T) {
	t.Parallel()
	r := New(Options{})
	tests := []struct {
		src      string
		wantPlan bool
	}{
		{"Hello {{flow.data.first_name}}!", true},
		{"{{ widgets.get-datetime-parts.parsed.readable_datetime }}", true},
		{"{{ready?}}", true},
		{"{{ a }}{{ b.c }} and text", true},
		{"{{ a | upcase }}", false},
		{"{{ a[0] }}", false},
		{`{{ a["b"] }}`, false},
		{"{{- a -}}", false},
		{"{% if a %}x{% endif %}", false},
		{"{{ true }}", false},
		{"{{ nil }}", false},
		{"{{ 'lit' }}", false},
		{"{{ 3 }}", false},
		{"{{ a .b }}", false},
	}
	for _, tc := range tests {
		e, err := r.parse(tc.src)
		if err != nil {
			t.Fatalf("parse(%q): %v", tc.src, err)
		}
		if got := e.plan != nil; got != tc.wantPlan {
			t.Errorf("parse(%q): plan = %v, want %v", tc.src, got, tc.wantPlan)
		}
	}
}

// TestPlanMatchesLibrary renders templates both ways over values the plan
// handles and values it hands back to the library.
func TestPlanMatchesLibrary(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"Hello {{flow.data.first_name}}, {{ widgets.get-datetime-parts.parsed.readable_datetime }}.",
		"{{flow.variables.count}} {{flow.variables.phone}} {{flow.variables.ok}} {{flow.data.n}} [{{flow.data.nothing}}]",
		"{{flow.variables.list}} {{flow.variables.list.size}} {{flow.variables.list.first}}",
		"{{flow.data}} {{flow.data.size}} {{widgets.empty.size}} {{widgets.typed.k}} {{widgets.typed.size}}",
		"[{{nope}}] [{{nope.deeper.still}}] [{{flow.nope.x}}] [{{s.size}}] [{{s.x}}]",
		"{{ready?}} {{flow.variables.count.x}}",
	} {
		assertPlanMatchesLibrary(t, src)
	}
}

func assertPlanMatchesLibrary(t *testing.T, src string) {
	t.Helper()
	r := New(Options{})
	e, err := r.parse(src)
	if err != nil || e.plan == nil {
		return
	}
	vars := planContext()
	fast, ok := renderPlan(e.plan, vars)
	if !ok {
		return
	}
	slow, err := r.renderTree(src, e, vars)
	if err != nil {
		t.Fatalf("%q: the plan rendered %q but the library failed: %v", src, fast, err)
	}
	if fast != slow {
		t.Errorf("%q: plan %q, library %q", src, fast, slow)
	}
}

func FuzzPlanMatchesLibrary(f *testing.F) {
	for _, seed := range []string{
		"Hi {{flow.data.first_name}}", "{{flow.data.size}}", "{{ready?}}", "{{widgets.typed.k}}", "{{flow.variables.list.first}}",
	} {
		f.Add(seed)
	}
	f.Fuzz(assertPlanMatchesLibrary)
}
