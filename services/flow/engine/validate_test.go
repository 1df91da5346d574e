package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/convoflow/convoflow/internal/shared"
)

// validationCase is one case of testdata/validation.json.
type validationCase struct {
	Description string          `json:"description"`
	Definition  json.RawMessage `json:"definition"`
	// ExtraStates appends that many connected set-variables widgets, for
	// the states limit.
	ExtraStates int                        `json:"extra_states,omitempty"`
	Subflows    map[string]json.RawMessage `json:"subflows,omitempty"`
	// Expect is the problem list (null when valid), or the Parse error.
	Expect json.RawMessage `json:"expect"`
}

type validationResult struct {
	ParseError string    `json:"parse_error,omitempty"`
	Problems   []Problem `json:"problems"`
	// Warnings of a valid definition (Engine.Check).
	Warnings []Problem `json:"warnings,omitempty"`
}

func TestValidate(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "validation.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []validationCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		c := &cases[i]
		w := newWorld(t, worldSpec{Subflows: c.Subflows})
		defJSON := []byte(c.Definition)
		if c.ExtraStates > 0 {
			defJSON = withExtraStates(t, defJSON, c.ExtraStates)
		}
		var got validationResult
		d, err := Parse(defJSON)
		if err != nil {
			if !errors.Is(err, ErrInvalidDefinition) {
				t.Errorf("case %q: Parse error %v is not ErrInvalidDefinition", c.Description, err)
			}
			got.ParseError = err.Error()
		} else if warnings, err := w.engine.Check(t.Context(), d); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidDefinition) {
				t.Fatalf("case %q: Check returned %T %v", c.Description, err, err)
			}
			got.Problems = ve.Problems
			if verr := w.engine.Validate(t.Context(), d); !errors.As(verr, &ve) || jsonDiff(t, got.Problems, ve.Problems) != "" {
				t.Errorf("case %q: Validate = %v, want the problems Check found", c.Description, verr)
			}
		} else {
			got.Warnings = warnings
			if err := w.engine.Validate(t.Context(), d); err != nil {
				t.Errorf("case %q: Validate = %v after Check found the definition valid", c.Description, err)
			}
		}
		if *update {
			c.Expect, _ = json.Marshal(got)
			continue
		}
		var want validationResult
		if err := json.Unmarshal(c.Expect, &want); err != nil {
			t.Fatalf("case %q: %v", c.Description, err)
		}
		if d := jsonDiff(t, want, got); d != "" {
			t.Errorf("case %q (-want +got):\n%s", c.Description, d)
		}
	}
	if *update {
		writeJSON(t, path, cases)
	}
}

func withExtraStates(t *testing.T, defJSON []byte, n int) []byte {
	t.Helper()
	var def map[string]any
	if err := json.Unmarshal(defJSON, &def); err != nil {
		t.Fatal(err)
	}
	states, _ := def["states"].([]any)
	for i := range n {
		states = append(states, map[string]any{
			"name": fmt.Sprintf("extra_%d", i), "type": "set-variables",
			"transitions": []any{map[string]any{"event": "next"}},
			"properties":  map[string]any{"variables": []any{}, "offset": map[string]any{"x": 0, "y": 0}},
		})
	}
	def["states"] = states
	b, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRoundTrip checks that testdata/roundtrip.json and every shared
// export validate and marshal back to the same JSON, unknown keys and
// numbers-as-strings included.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	t.Run("roundtrip.json", func(t *testing.T) {
		t.Parallel()
		checkRoundTrip(t, filepath.Join("testdata", "roundtrip.json"))
	})
	t.Run("shared", func(t *testing.T) {
		t.Parallel()
		files, _ := filepath.Glob(filepath.Join(shared.Path(t, "flows"), "*.json"))
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				t.Parallel()
				checkRoundTrip(t, f)
			})
		}
	})
}

func checkRoundTrip(t *testing.T, f string) {
	t.Helper()
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, worldSpec{})
	d, err := w.engine.Read(t.Context(), data)
	if err != nil {
		t.Fatalf("%s does not validate: %v", f, err)
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := jsonDiff(t, json.RawMessage(data), json.RawMessage(out)); diff != "" {
		t.Errorf("round trip changed the definition (-read +written):\n%s", diff)
	}
}
