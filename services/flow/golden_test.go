package flow

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

var update = flag.Bool("update", false, "rewrite the expected steps in testdata/steps from this run")

// stepRow is how testdata/steps/<case>.json records a step: the fields
// that are the same on every run (no SIDs, no times).
type stepRow struct {
	Name             string `json:"name"`
	TransitionedFrom string `json:"transitioned_from"`
	TransitionedTo   string `json:"transitioned_to"`
	Type             string `json:"type"`
}

// checkSteps compares an execution's steps with testdata/steps/<name>.json;
// -update rewrites the file instead (review the diff).
func checkSteps(tb testing.TB, name string, steps []*flowv1.ExecutionStep) {
	tb.Helper()
	got := make([]stepRow, len(steps))
	for i, s := range steps {
		got[i] = stepRow{s.GetName(), s.GetTransitionedFrom(), s.GetTransitionedTo(), s.GetType()}
	}
	file := filepath.Join("testdata", "steps", name+".json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	var want []stepRow
	if err := json.Unmarshal(b, &want); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("steps differ from %s (-want +got):\n%s", file, diff)
	}
}
