package flow

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/services/flow/canvas"
	"github.com/convoflow/convoflow/services/flow/engine"
)

func TestRenderFlow(t *testing.T) {
	t.Parallel()
	file := "../../examples/flows/support-agent.json"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	def, err := engine.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := canvas.Render(&want, def, canvas.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
	}{{"file", []string{file}}, {"stdin", []string{"-"}}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			if err := RenderFlow(tt.args, bytes.NewReader(data), &out, &errOut); err != nil {
				t.Fatalf("RenderFlow: %v\n%s", err, errOut.String())
			}
			if out.String() != want.String() {
				t.Errorf("render-flow drew something else than the canvas package:\n%s", out.String())
			}
		})
	}
}

func TestRenderFlow_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"no_file", nil, "", "one FILE"},
		{"two_files", []string{"a", "b"}, "", "one FILE"},
		{"missing_file", []string{"/nonexistent/flow.json"}, "", "no such file"},
		{"not_json", []string{"-"}, "not json", "invalid flow definition"},
		{"unknown_flag", []string{"--nope", "x"}, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := RenderFlow(tt.args, strings.NewReader(tt.stdin), &out, &errOut)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.want)) {
				t.Errorf("RenderFlow(%q) = %v, want an error with %q", tt.args, err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("wrote to stdout on error: %q", out.String())
			}
		})
	}
}
