package flow

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/grpcurltest"
)

// TestFlowservice_grpcurl drives a running flowservice with grpcurl
// -plaintext, as operators explore it: reflection alone must be enough to
// list, describe and call it. Without grpcurl the test skips, unless
// CONVOFLOW_REQUIRE_GRPCURL=1 (CI).
func TestFlowservice_grpcurl(t *testing.T) {
	t.Parallel()
	grpcurl := grpcurltest.Path(t)
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
	svc := flowv1connect.FlowServiceName
	grpcurltest.Run(t, grpcurl, ts.addr, []grpcurltest.Case{
		{Name: "list", Args: []string{"list"}, Want: []string{svc, "grpc.health.v1.Health"}},
		{Name: "list_methods", Args: []string{"list", svc}, Want: []string{svc + ".CreateFlow", svc + ".WatchExecution", svc + ".HandleConversationEvent"}},
		{Name: "describe_rpc", Args: []string{"describe", svc + ".CreateExecution"}, Want: []string{"rpc CreateExecution ( .convoflow.flow.v1.CreateExecutionRequest ) returns ( .convoflow.flow.v1.CreateExecutionResponse )"}},
		{Name: "describe_message", Args: []string{"describe", "convoflow.flow.v1.Flow"}, Want: []string{".google.protobuf.Struct definition = 5;"}},
		{Name: "create_flow", Args: []string{"-d", string(create), svc + "/CreateFlow"}, Want: []string{`"friendlyName": "from grpcurl"`, `"revision": 1`, `"initial_state": "Trigger"`, `"webhookUrl": "` + ts.url + `/v1/Accounts/` + testAccountSid + `/Flows/FW`}},
		{Name: "health", Args: []string{"-d", `{"service":"` + svc + `"}`, "grpc.health.v1.Health/Check"}, Want: []string{`"status": "SERVING"`}},
	})
	// An error is reported with its code and details.
	t.Run("invalid_definition", func(t *testing.T) {
		t.Parallel()
		out, ok := grpcurltest.Output(t, grpcurl, ts.addr, "-d",
			`{"friendly_name":"bad","status":"FLOW_STATUS_DRAFT","definition":{"states":[]}}`, svc+"/CreateFlow")
		if ok || !strings.Contains(out, "InvalidArgument") || !strings.Contains(out, "convoflow.flow.v1.ValidationErrors") {
			t.Errorf("grpcurl CreateFlow invalid succeeded=%v:\n%s", ok, out)
		}
	})
}
