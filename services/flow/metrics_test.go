package flow

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func scrapeMetrics(t testing.TB, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(body)
}

// TestE2E_metrics runs the tutorial once and reads /metrics as Prometheus
// does: executions started and ended, steps by widget type, the Function
// call, the webhook, the commit latency and the RPCs are all there, and
// convoflow_executions_started_total grows with each execution.
func TestE2E_metrics(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	c := s.svc.clients[0]
	flowSid := deploy(t, c, "support agent", readShared(t, "flows/support-agent.json"))
	before := scrapeMetrics(t, s.svc.url)
	if !strings.Contains(before, "convoflow_executions_started_total 0") {
		t.Errorf("before any execution: started_total is not 0")
	}
	ch := s.conversation(t, flowSid, customer, colleague)
	s.text(t, customer, "support")
	executionIn(t, c, flowSid, ch, ended)
	text := scrapeMetrics(t, s.svc.url)
	for _, want := range []string{
		"convoflow_executions_started_total 1",
		`convoflow_executions_ended_total{reason="FLOW_END"}`,
		`convoflow_steps_total{widget_type="trigger"} 1`,
		`convoflow_steps_total{widget_type="run-function"} 1`,
		`convoflow_outbound_requests_total{kind="run-function",result="answered"} 1`,
		`convoflow_webhooks_total{result="accepted"}`,
		`convoflow_webhooks_total{result="forged"} 0`,
		"convoflow_store_commit_seconds_count ",
		"convoflow_lease_takeovers_total 0",
		"convoflow_conversations_in_progress ",
		`convoflow_rpc_handled_total{code="ok",procedure="/convoflow.flow.v1.FlowService/CreateFlow"} 1`,
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}
