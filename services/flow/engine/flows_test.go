package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convoflow/convoflow/internal/shared"
)

// flowCases is testdata/flows/<flow>.cases.json: whole-flow golden runs of
// one definition. The definition is testdata/flows/<flow>.json, or, for
// the third-party exports, the file named by Shared inside the shared
// folder (read at test time, never copied into the repository).
type flowCases struct {
	Shared string     `json:"shared,omitempty"`
	Cases  []flowCase `json:"cases"`
}

// flowCase is one run: a trigger, the injected answers, the events that
// resume it, and what must come out.
type flowCase struct {
	Description string       `json:"description"`
	Trigger     *triggerSpec `json:"trigger"`
	worldSpec
	Resumes []resumeSpec    `json:"resumes,omitempty"`
	Expect  json.RawMessage `json:"expect"`
}

type flowResult struct {
	// Steps lists every step, or the first and last 10 of a long run.
	Steps       []stepView        `json:"steps"`
	StepCount   int               `json:"step_count"`
	Messages    []sentMessage     `json:"messages,omitempty"`
	HTTP        []recordedRequest `json:"http_requests,omitempty"`
	Status      string            `json:"status"`
	EndedReason string            `json:"ended_reason,omitempty"`
	EndedCode   int               `json:"ended_code,omitempty"`
	EndedError  string            `json:"ended_error,omitempty"`
	Wait        *Wait             `json:"wait,omitempty"`
	ResumeErrs  []string          `json:"resume_errors,omitempty"`
	// Context is the final context, long strings summarised.
	Context any `json:"context"`
}

// TestFlows runs every testdata/flows/*.cases.json.
func TestFlows(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "flows", "*.cases.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no flow cases: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".cases.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var fc flowCases
			if err := json.Unmarshal(data, &fc); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			defPath := filepath.Join("testdata", "flows", name+".json")
			if fc.Shared != "" {
				defPath = shared.Path(t, fc.Shared)
			}
			defJSON, err := os.ReadFile(defPath)
			if err != nil {
				t.Fatal(err)
			}
			for i := range fc.Cases {
				c := &fc.Cases[i]
				got := runFlowCase(t, defJSON, c)
				if *update {
					b, err := json.Marshal(got)
					if err != nil {
						t.Fatal(err)
					}
					c.Expect = b
					continue
				}
				var want flowResult
				if err := json.Unmarshal(c.Expect, &want); err != nil {
					t.Fatalf("case %q: bad expect: %v", c.Description, err)
				}
				if d := jsonDiff(t, want, got); d != "" {
					t.Errorf("case %q (-want +got):\n%s", c.Description, d)
				}
			}
			if *update {
				writeJSON(t, file, fc)
			}
		})
	}
}

// TestSharedFlowsHaveCases fails when a flow in the shared folder has no
// cases file naming it, so a new export cannot go untested.
func TestSharedFlowsHaveCases(t *testing.T) {
	t.Parallel()
	dir := shared.Path(t, "flows")
	defs, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(defs) == 0 {
		t.Fatalf("no flows in %s: %v", dir, err)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "flows", "*.cases.json"))
	var covered []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fc flowCases
		if err := json.Unmarshal(data, &fc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		covered = append(covered, fc.Shared)
	}
	for _, d := range defs {
		rel := "flows/" + filepath.Base(d)
		if !slices.Contains(covered, rel) {
			t.Errorf("shared flow %s has no testdata/flows/*.cases.json with \"shared\": %q", d, rel)
		}
	}
}

func runFlowCase(t *testing.T, defJSON []byte, c *flowCase) flowResult {
	t.Helper()
	w := newWorld(t, c.worldSpec)
	def, err := w.engine.Read(t.Context(), defJSON)
	if err != nil {
		t.Fatalf("case %q: the definition does not validate: %v", c.Description, err)
	}
	res, err := w.engine.Start(t.Context(), def, c.Trigger.trigger())
	if err != nil {
		t.Fatalf("case %q: Start: %v", c.Description, err)
	}
	steps := res.Steps
	x := res.Execution
	var resumeErrs []string
	for _, rs := range c.Resumes {
		x = persist(t, x)
		w.clock.Advance(time.Duration(rs.AdvanceSeconds) * time.Second)
		r, err := w.engine.Resume(t.Context(), def, x, Resume{Kind: rs.Kind, Widget: rs.Widget, Conversation: rs.Conversation, Message: rs.Message})
		if err != nil {
			resumeErrs = append(resumeErrs, err.Error())
			continue
		}
		steps = append(steps, r.Steps...)
	}
	checkSteps(t, steps, x)
	return flowResult{
		Steps:       shortSteps(viewSteps(steps, x.FlowSid)),
		StepCount:   len(steps),
		Messages:    w.messenger.sent,
		HTTP:        w.http.requests,
		Status:      x.Status,
		EndedReason: x.EndedReason,
		EndedCode:   x.EndedCode,
		EndedError:  x.EndedError,
		Wait:        x.Wait,
		ResumeErrs:  resumeErrs,
		Context:     summarize(toAny(t, &x.Context)),
	}
}

// shortSteps keeps the first and last 10 steps of a long run, so fixtures
// of the step limits stay readable.
func shortSteps(v []stepView) []stepView {
	if len(v) > 40 {
		return append(v[:10:10], v[len(v)-10:]...)
	}
	return v
}

// checkSteps checks what the fixtures leave out: numbering, SIDs and the
// context snapshots (each parses; the last one of an ended execution is
// the final context).
func checkSteps(t *testing.T, steps []Step, x *Execution) {
	t.Helper()
	seen := map[string]bool{}
	for i, s := range steps {
		if s.Number != i+1 {
			t.Errorf("step %d has number %d", i+1, s.Number)
		}
		if !strings.HasPrefix(s.Sid, "FT") || len(s.Sid) != 34 || seen[s.Sid] {
			t.Errorf("step %d has SID %q", i+1, s.Sid)
		}
		seen[s.Sid] = true
		if s.ExecutionSid != x.Sid {
			t.Errorf("step %d belongs to %s, not %s", i+1, s.ExecutionSid, x.Sid)
		}
		var c Context
		if err := json.Unmarshal(s.Context, &c); err != nil {
			t.Errorf("step %d context: %v", i+1, err)
		}
	}
	if len(steps) > 0 && x.Status == StatusEnded && x.EndedReason == EndedFlowEnd {
		last, _ := json.Marshal(&x.Context)
		if d := jsonDiff(t, json.RawMessage(last), steps[len(steps)-1].Context); d != "" {
			t.Errorf("the last step's context is not the final context (-final +step):\n%s", d)
		}
	}
	if x.StepCount != len(steps) {
		t.Errorf("execution counts %d steps, %d were returned", x.StepCount, len(steps))
	}
}
