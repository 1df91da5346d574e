package canvas_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convoflow/convoflow/internal/shared"
	"github.com/convoflow/convoflow/services/flow/canvas"
	"github.com/convoflow/convoflow/services/flow/engine"
)

var update = flag.Bool("update", false, "rewrite the golden SVGs in testdata/ from this run")

// supportPath is the tutorial's path when a customer texts "support", as
// services/flow/testdata/steps/support-agent.json records it.
var supportPath = []canvas.Step{
	{From: "Trigger", Event: "incomingConversationMessage", To: "check-support"},
	{From: "check-support", Event: "match", To: "add-support-agent"},
	{From: "add-support-agent", Event: "success", To: "support-confirmation-message"},
	{From: "support-confirmation-message", Event: "sent", To: "Ended"},
}

// TestRender_golden draws the repository's flows and compares with
// testdata/<name>.svg. The real Studio exports in ../shared/flows are
// third-party files, so no drawing of them is committed either:
// TestRender_sharedExports checks them structurally.
func TestRender_golden(t *testing.T) {
	t.Parallel()
	type tc struct {
		name, file string
		opts       canvas.Options
	}
	cases := []tc{
		{"support-agent", "../../../examples/flows/support-agent.json", canvas.Options{}},
		{"support-agent-visited", "../../../examples/flows/support-agent.json", canvas.Options{
			Steps:  supportPath,
			Counts: map[string]int{"add-support-agent": 2},
		}},
		{"invalid", "../testdata/flows/invalid.json", canvas.Options{
			Problems: map[string][]string{"Trigger": {"transitions/2/next: no widget named nowhere"}},
			Warnings: map[string][]string{"say": {"properties/body: unknown filter"}, "Trigger": {"hidden by the error"}},
		}},
		{"wait", "../testdata/flows/wait.json", canvas.Options{}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, "-", "_"), func(t *testing.T) {
			t.Parallel()
			def := parse(t, c.file)
			var buf bytes.Buffer
			if err := canvas.Render(&buf, def, c.opts); err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, buf.Bytes())
			golden := filepath.Join("testdata", c.name+".svg")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", golden, diff)
			}
		})
	}
}

// TestRender_sharedExports draws the real Studio exports in ../shared/flows
// (read where they are, never copied): each is well-formed SVG with one
// data-widget node per widget, in the definition's order.
func TestRender_sharedExports(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"covid-vaccine-faq-bot", "patient-appointment-management", "support-agent", "vaccine-standby"} {
		t.Run(strings.ReplaceAll(f, "-", "_"), func(t *testing.T) {
			t.Parallel()
			def := parse(t, shared.Path(t, "flows/"+f+".json"))
			var buf bytes.Buffer
			if err := canvas.Render(&buf, def, canvas.Options{}); err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, buf.Bytes())
			var want, got []string
			for _, st := range def.States {
				want = append(want, st.Name)
			}
			for _, g := range readSVG(t, buf.Bytes()).groups {
				if w, ok := g["data-widget"]; ok {
					got = append(got, w)
				}
			}
			if len(want) == 0 {
				t.Fatal("the export has no widgets")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("data-widget nodes (-definition +drawing):\n%s", diff)
			}
		})
	}
}

// TestRender_nodes checks the promises tools rely on, independent of
// coordinates: one data-widget group per widget, data-visited on exactly
// the visited ones, in path order, and the taken transitions numbered.
func TestRender_nodes(t *testing.T) {
	t.Parallel()
	def := parse(t, "../../../examples/flows/support-agent.json")
	var buf bytes.Buffer
	if err := canvas.Render(&buf, def, canvas.Options{Steps: supportPath}); err != nil {
		t.Fatal(err)
	}
	doc := readSVG(t, buf.Bytes())
	var widgets, visited, order []string
	taken := map[string]string{}
	for _, g := range doc.groups {
		if w, ok := g["data-widget"]; ok {
			widgets = append(widgets, w)
			if g["data-visited"] == "true" {
				visited = append(visited, w)
				order = append(order, g["data-order"])
			}
		}
		if s, ok := g["data-step"]; ok {
			taken[g["data-from"]+"/"+g["data-event"]] = s
		}
	}
	wantWidgets := []string{"Trigger", "check-support", "add-support-agent", "support-confirmation-message", "support-unavailable-message"}
	if diff := cmp.Diff(wantWidgets, widgets); diff != "" {
		t.Errorf("widgets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantWidgets[:4], visited); diff != "" {
		t.Errorf("visited (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1", "2", "3", "4"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	wantTaken := map[string]string{
		"Trigger/incomingConversationMessage": "1", "check-support/match": "2",
		"add-support-agent/success": "3", "support-confirmation-message/sent": "4",
	}
	if diff := cmp.Diff(wantTaken, taken); diff != "" {
		t.Errorf("taken transitions (-want +got):\n%s", diff)
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	split := &engine.State{Name: "s", Type: "split-based-on"}
	tests := []struct {
		name  string
		state *engine.State
		tr    engine.Transition
		want  string
	}{
		{"friendly_name", split, engine.Transition{Event: "match", Conditions: []engine.Condition{{FriendlyName: "Support", Type: "equal_to", Value: "support"}}}, "Support"},
		{"condition_without_name", split, engine.Transition{Event: "match", Conditions: []engine.Condition{{Type: "equal_to", Value: "support"}}}, "equal to support"},
		{"no_match", split, engine.Transition{Event: "noMatch"}, "No Condition Matches"},
		{"trigger_event", &engine.State{Type: "trigger"}, engine.Transition{Event: "incomingRequest"}, "REST API"},
		{"reply", &engine.State{Type: "send-and-wait-for-reply"}, engine.Transition{Event: "incomingMessage"}, "Reply"},
		{"unknown_event", &engine.State{Type: "x"}, engine.Transition{Event: "somethingNew"}, "somethingNew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := canvas.Label(tt.state, tt.tr); got != tt.want {
				t.Errorf("Label = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProblemsByWidget(t *testing.T) {
	t.Parallel()
	def := parse(t, "../testdata/flows/invalid.json")
	byWidget, other := canvas.ProblemsByWidget(def, []canvas.Problem{
		{PropertyPath: "#/states/0/transitions/2/next", Message: "unknown widget nowhere"},
		{PropertyPath: "#/states/2", Message: "unknown type"},
		{PropertyPath: "#/states/9/name", Message: "out of range"},
		{PropertyPath: "#/initial_state", Message: "whole flow"},
	})
	want := map[string][]string{
		"Trigger": {"transitions/2/next: unknown widget nowhere"},
		"mystery": {"unknown type"},
	}
	if diff := cmp.Diff(want, byWidget); diff != "" {
		t.Errorf("by widget (-want +got):\n%s", diff)
	}
	if len(other) != 2 || other[0].PropertyPath != "#/states/9/name" || other[1].PropertyPath != "#/initial_state" {
		t.Errorf("other = %v", other)
	}
}

func TestRender_escapes(t *testing.T) {
	t.Parallel()
	def, err := engine.Parse([]byte(`{"states":[{"name":"<b>&\"x\"","type":"send-message","transitions":[{"event":"sent","next":"gone"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := canvas.Render(&buf, def, canvas.Options{}); err != nil {
		t.Fatal(err)
	}
	doc := readSVG(t, buf.Bytes())
	if got := doc.groups[len(doc.groups)-1]["data-widget"]; got != `<b>&"x"` {
		t.Errorf("data-widget = %q", got)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`class="edge dangling"`)) {
		t.Errorf("a transition to a missing widget is not drawn as dangling:\n%s", buf.Bytes())
	}
}

func parse(tb testing.TB, file string) *engine.Definition {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	def, err := engine.Parse(b)
	if err != nil {
		tb.Fatal(err)
	}
	return def
}

// svgDoc holds the attributes of every <g> of a drawing, in order.
type svgDoc struct{ groups []map[string]string }

func readSVG(tb testing.TB, b []byte) svgDoc {
	tb.Helper()
	var doc svgDoc
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return doc
		}
		if err != nil {
			tb.Fatalf("not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "g" {
			attrs := map[string]string{}
			for _, a := range se.Attr {
				attrs[a.Name.Local] = a.Value
			}
			doc.groups = append(doc.groups, attrs)
		}
	}
}

func checkWellFormed(tb testing.TB, b []byte) {
	tb.Helper()
	readSVG(tb, b)
}
