package flow

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
)

// TestE2E_outboundPolicy publishes a flow whose make-http-request calls
// the URL the customer texts, and texts it addresses of the server's own
// network in several spellings: each call takes the failed transition
// with the policy's reason in the step's context, and the listener on
// loopback never sees a request. The support-agent flow's Function, on
// loopback too but a --function-map target, still works (see
// TestE2E_supportAgent).
func TestE2E_outboundPolicy(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(internal.Close)
	u, err := url.Parse(internal.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	def, err := os.ReadFile("testdata/flows/probe.json")
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t)
	c := s.svc.clients[0]
	flowSid := deploy(t, c, "probe", mustStruct(t, string(def)))
	targets := []struct{ url, reason string }{
		{"http://127.0.0.1:" + port + "/admin", "(loopback address)"},
		{"http://localhost:" + port + "/admin", "(loopback address)"},
		{"http://[::ffff:127.0.0.1]:" + port + "/admin", "(loopback address)"},
		{"http://2130706433:" + port + "/admin", "(loopback address)"},
		{"http://169.254.169.254/latest/meta-data/", "(link-local address)"},
		{"http://10.0.0.1/", "(private address)"},
		{"http://192.168.1.1/", "(private address)"},
		{"http://100.64.0.1/", "(CGNAT address)"},
	}
	for i, tg := range targets {
		from, to := fmt.Sprintf("+1555126%04d", i), fmt.Sprintf("+1555127%04d", i)
		ch := s.conversation(t, flowSid, from, to)
		s.text(t, from, tg.url)
		e := executionIn(t, c, flowSid, ch, ended)
		steps := stepsOf(t, c, flowSid, e.GetSid())
		if got := strings.Join(path(steps), " "); !strings.Contains(got, "->refused") {
			t.Errorf("%s: path %s, want probe's failed transition", tg.url, got)
			continue
		}
		sc, err := c.GetExecutionStepContext(t.Context(), &flowv1.GetExecutionStepContextRequest{FlowSid: flowSid, ExecutionSid: e.GetSid(), StepSid: steps[1].GetSid()})
		if err != nil {
			t.Fatal(err)
		}
		if ctx := sc.GetContext().String(); !strings.Contains(ctx, "the outbound policy refuses") || !strings.Contains(ctx, tg.reason) {
			t.Errorf("%s: step context %s lacks the refusal %s", tg.url, ctx, tg.reason)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback listener received %d requests", n)
	}
	want := fmt.Sprintf(`convoflow_outbound_requests_total{kind="make-http-request",result="refused"} %d`, len(targets))
	if m := scrapeMetrics(t, s.svc.url); !strings.Contains(m, want) {
		t.Errorf("metrics lack %s", want)
	}
}
