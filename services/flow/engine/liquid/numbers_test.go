package liquid

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestNormalizeNumbers(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"plain": map[string]any{"a": 1.5, "b": "x"},
		"nums":  map[string]any{"i": json.Number("41"), "f": json.Number("2.5"), "bad": json.Number("x"), "big": json.Number("1e400")},
		"list":  []any{json.Number("-3"), "s"},
	}
	got, changed := normalizeNumbers(in)
	if !changed {
		t.Fatal("changed = false")
	}
	want := map[string]any{
		"plain": map[string]any{"a": 1.5, "b": "x"},
		"nums":  map[string]any{"i": 41, "f": 2.5, "bad": json.Number("x"), "big": json.Number("1e400")},
		"list":  []any{-3, "s"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	// Copy on write: the input is untouched and the branch without a
	// json.Number is shared, not copied.
	if in["nums"].(map[string]any)["i"] != json.Number("41") {
		t.Error("input modified")
	}
	if reflect.ValueOf(got.(map[string]any)["plain"]).Pointer() != reflect.ValueOf(in["plain"]).Pointer() {
		t.Error("unchanged branch was copied")
	}
}

func TestNormalizeNumbersNoAllocWithoutJSONNumbers(t *testing.T) {
	v := map[string]any{"a": map[string]any{"b": []any{1.0, "x", map[string]any{"c": true}}}}
	allocs := testing.AllocsPerRun(100, func() {
		if _, changed := normalizeNumbers(v); changed {
			t.Fatal("changed")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}
