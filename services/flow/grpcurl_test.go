package flow

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
)

// findGrpcurl looks for grpcurl on PATH, then where go install puts it.
func findGrpcurl() (string, bool) {
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p, true
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", false
		}
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(gopath, "bin", "grpcurl")
	if _, err := os.Stat(p); err == nil {
		return p, true
	}
	return "", false
}

// TestFlowservice_grpcurl drives a running flowservice with grpcurl
// -plaintext, as operators explore it: reflection alone must be enough to
// list, describe and call it. Without grpcurl the test skips, unless
// CONVOFLOW_REQUIRE_GRPCURL=1 (CI).
func TestFlowservice_grpcurl(t *testing.T) {
	t.Parallel()
	grpcurl, ok := findGrpcurl()
	if !ok {
		const msg = "grpcurl not found; install with go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"
		if os.Getenv("CONVOFLOW_REQUIRE_GRPCURL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ts := startService(t, serviceOptions{})
	def, err := os.ReadFile("testdata/flows/echo.json")
	if err != nil {
		t.Fatal(err)
	}
	var defObj any
	if err := json.Unmarshal(def, &defObj); err != nil {
		t.Fatal(err)
	}
	create, err := json.Marshal(map[string]any{"friendly_name": "from grpcurl", "status": "FLOW_STATUS_PUBLISHED", "definition": defObj})
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		full := []string{"-plaintext"}
		rest := args
		if len(rest) >= 2 && rest[0] == "-d" {
			full = append(full, rest[0], rest[1])
			rest = rest[2:]
		}
		full = append(append(full, ts.addr), rest...)
		out, err := exec.CommandContext(t.Context(), grpcurl, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %s: %v\n%s", strings.Join(full, " "), err, out)
		}
		return string(out)
	}
	svc := flowv1connect.FlowServiceName
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"list", []string{"list"}, []string{svc, "grpc.health.v1.Health"}},
		{"list_methods", []string{"list", svc}, []string{svc + ".CreateFlow", svc + ".WatchExecution", svc + ".HandleConversationEvent"}},
		{"describe_rpc", []string{"describe", svc + ".CreateExecution"}, []string{"rpc CreateExecution ( .convoflow.flow.v1.CreateExecutionRequest ) returns ( .convoflow.flow.v1.CreateExecutionResponse )"}},
		{"describe_message", []string{"describe", "convoflow.flow.v1.Flow"}, []string{".google.protobuf.Struct definition = 5;"}},
		{"create_flow", []string{"-d", string(create), svc + "/CreateFlow"}, []string{`"friendlyName": "from grpcurl"`, `"revision": 1`, `"initial_state": "Trigger"`, `"webhookUrl": "` + ts.url + `/v1/Accounts/` + testAccountSid + `/Flows/FW`}},
		{"health", []string{"-d", `{"service":"` + svc + `"}`, "grpc.health.v1.Health/Check"}, []string{`"status": "SERVING"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := run(t, tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	// An error is reported with its code and details.
	t.Run("invalid_definition", func(t *testing.T) {
		t.Parallel()
		cmd := exec.CommandContext(t.Context(), grpcurl, "-plaintext", "-d",
			`{"friendly_name":"bad","status":"FLOW_STATUS_DRAFT","definition":{"states":[]}}`, ts.addr, svc+"/CreateFlow")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "InvalidArgument") || !strings.Contains(string(out), "convoflow.flow.v1.ValidationErrors") {
			t.Errorf("grpcurl CreateFlow invalid: %v\n%s", err, out)
		}
	})
}
