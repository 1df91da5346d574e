package serve_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
)

// TestServer_grpcurl drives the server with grpcurl -plaintext, the way
// operators explore it: reflection must be enough to list, describe and call
// everything, health included. It needs grpcurl on PATH
// (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4); without it
// the test skips, unless CONVOFLOW_REQUIRE_GRPCURL=1.
func TestServer_grpcurl(t *testing.T) {
	t.Parallel()
	grpcurl, err := exec.LookPath("grpcurl")
	if err != nil {
		const msg = "grpcurl not on PATH; install with go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"
		// CI sets CONVOFLOW_REQUIRE_GRPCURL=1 so a missing grpcurl fails
		// instead of silently skipping the check.
		if os.Getenv("CONVOFLOW_REQUIRE_GRPCURL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ts := startServer(t, 0, nil)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"list", []string{"list"}, []string{flowv1connect.FlowServiceName, "grpc.health.v1.Health"}},
		{"list_methods", []string{"list", flowv1connect.FlowServiceName}, []string{
			flowv1connect.FlowServiceName + ".CreateFlow", flowv1connect.FlowServiceName + ".WatchExecution",
		}},
		{"describe_service", []string{"describe", flowv1connect.FlowServiceName}, []string{
			"rpc GetFlow ( .convoflow.flow.v1.GetFlowRequest ) returns ( .convoflow.flow.v1.GetFlowResponse )",
		}},
		{"describe_message", []string{"describe", "convoflow.flow.v1.Flow"}, []string{".google.protobuf.Struct definition = 5;"}},
		{"call", []string{"-d", `{"sid":"FW1"}`, flowv1connect.FlowServiceName + "/GetFlow"}, []string{`"sid": "FW1"`}},
		{"stream", []string{"-d", `{"flow_sid":"1ms","execution_sid":"2"}`, flowv1connect.FlowServiceName + "/WatchExecution"}, []string{`"step"`}},
		{"health", []string{"-d", `{"service":"` + flowv1connect.FlowServiceName + `"}`, "grpc.health.v1.Health/Check"}, []string{`"status": "SERVING"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := grpcurlArgs(tt.args, ts.addr)
			out, err := exec.CommandContext(t.Context(), grpcurl, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("grpcurl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("grpcurl %s output lacks %q:\n%s", strings.Join(args, " "), w, out)
				}
			}
		})
	}
}

// grpcurlArgs builds "-plaintext [-d DATA] ADDR [VERB] [SYMBOL]": grpcurl
// wants its flags before the address and the verb or method after it.
func grpcurlArgs(args []string, addr string) []string {
	out := []string{"-plaintext"}
	rest := args
	if len(rest) >= 2 && rest[0] == "-d" {
		out = append(out, rest[0], rest[1])
		rest = rest[2:]
	}
	out = append(out, addr)
	return append(out, rest...)
}
