package serve_test

import (
	"testing"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/grpcurltest"
)

// TestServer_grpcurl drives the server with grpcurl -plaintext, the way
// operators explore it: reflection must be enough to list, describe and call
// everything, health included. It needs grpcurl on PATH
// (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4); without it
// the test skips, unless CONVOFLOW_REQUIRE_GRPCURL=1 (see grpcurltest).
func TestServer_grpcurl(t *testing.T) {
	t.Parallel()
	grpcurl := grpcurltest.Path(t)
	ts := startServer(t, 0, nil)
	grpcurltest.Run(t, grpcurl, ts.addr, []grpcurltest.Case{
		{Name: "list", Args: []string{"list"}, Want: []string{flowv1connect.FlowServiceName, "grpc.health.v1.Health"}},
		{Name: "list_methods", Args: []string{"list", flowv1connect.FlowServiceName}, Want: []string{
			flowv1connect.FlowServiceName + ".CreateFlow", flowv1connect.FlowServiceName + ".WatchExecution",
		}},
		{Name: "describe_service", Args: []string{"describe", flowv1connect.FlowServiceName}, Want: []string{
			"rpc GetFlow ( .convoflow.flow.v1.GetFlowRequest ) returns ( .convoflow.flow.v1.GetFlowResponse )",
		}},
		{Name: "describe_message", Args: []string{"describe", "convoflow.flow.v1.Flow"}, Want: []string{".google.protobuf.Struct definition = 5;"}},
		{Name: "call", Args: []string{"-d", `{"sid":"FW1"}`, flowv1connect.FlowServiceName + "/GetFlow"}, Want: []string{`"sid": "FW1"`}},
		{Name: "stream", Args: []string{"-d", `{"flow_sid":"1ms","execution_sid":"2"}`, flowv1connect.FlowServiceName + "/WatchExecution"}, Want: []string{`"step"`}},
		{Name: "health", Args: []string{"-d", `{"service":"` + flowv1connect.FlowServiceName + `"}`, "grpc.health.v1.Health/Check"}, Want: []string{`"status": "SERVING"`}},
	})
}
