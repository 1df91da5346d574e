//go:build e2e

package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/convoflow/convoflow/examples/tutorial"
	"github.com/convoflow/convoflow/fakes/conversations/fakeclient"
	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
)

// TestGuards checks the images' guards as a new user meets them, on one
// stack: API keys, signed Function calls and the outbound policy.
func TestGuards(t *testing.T) {
	s := startStack(t)
	t.Run("api_keys", func(t *testing.T) { checkAPIKeys(t, s) })
	t.Run("unsigned_function", func(t *testing.T) { checkUnsignedFunction(t, s) })
	t.Run("outbound_policy", func(t *testing.T) { checkOutboundPolicy(t, s) })
	t.Run("metrics", func(t *testing.T) { checkMetrics(t, s) })
}

// checkMetrics: /metrics on both servers is Prometheus text, without a key;
// after the subtests above FlowService has started executions and both
// have counted RPCs by procedure.
func checkMetrics(t *testing.T, s *stack) {
	for srv, want := range map[*server][]string{
		s.flow: {"convoflow_executions_started_total ", `procedure="/convoflow.flow.v1.FlowService/ListFlows"`,
			`convoflow_outbound_requests_total{kind="make-http-request",result="refused"}`},
		s.participant: {`procedure="/convoflow.participant.v1.ParticipantService/ListAgents"`, `convoflow_auth_refused_total{reason="missing"}`},
	} {
		status, body := get(t, srv.URL(t)+"/metrics")
		if status != http.StatusOK {
			t.Fatalf("%s /metrics: %d", srv.name, status)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s /metrics lacks %s", srv.name, w)
			}
		}
	}
}

// checkAPIKeys is the auth matrix: both services started with an API key
// (from the environment) answer RPCs without a key or with a wrong one
// Unauthenticated, work with the key, and leave health open.
func checkAPIKeys(t *testing.T, s *stack) {
	clients := map[string]*http.Client{
		"no_key":    http.DefaultClient,
		"wrong_key": {Transport: apikey.RoundTripper("wrong-key-0123456789abcdef", nil)},
		"right_key": keyed,
	}
	for name, hc := range clients {
		want := connect.CodeUnauthenticated
		if name == "right_key" {
			want = 0
		}
		_, err := flowv1connect.NewFlowServiceClient(hc, s.flow.URL(t)).ListFlows(t.Context(), &flowv1.ListFlowsRequest{})
		if got := connect.CodeOf(err); (err == nil) != (want == 0) || (err != nil && got != want) {
			t.Errorf("FlowService ListFlows, %s: %v, want %v", name, err, want)
		}
		_, err = participantv1connect.NewParticipantServiceClient(hc, s.participant.URL(t)).ListAgents(t.Context(), &participantv1.ListAgentsRequest{})
		if got := connect.CodeOf(err); (err == nil) != (want == 0) || (err != nil && got != want) {
			t.Errorf("ParticipantService ListAgents, %s: %v, want %v", name, err, want)
		}
		if err != nil && want != 0 && !strings.Contains(err.Error(), "API key") {
			t.Errorf("%s: the error %q does not say an API key is needed", name, err)
		}
	}
	for _, srv := range []*server{s.flow, s.participant} {
		conn, err := grpc.NewClient(strings.TrimPrefix(srv.URL(t), "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		res, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		conn.Close()
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health without a key: %v, %v", srv.name, res, err)
		}
	}
}

// checkUnsignedFunction: ParticipantService's Run Function endpoints refuse
// a call without a valid X-Twilio-Signature (the tutorial passing shows
// FlowService's signed calls are accepted).
func checkUnsignedFunction(t *testing.T, s *stack) {
	for name, sig := range map[string]string{"unsigned": "", "forged": "bm90IGEgc2lnbmF0dXJl"} {
		status, body := postSigned(t, s.participant.URL(t)+"/functions/add-support-agent",
			url.Values{"conversationID": {"CH" + strings.Repeat("ab", 16)}}, sig)
		if status != http.StatusUnauthorized || !strings.Contains(body, `"code":20003`) {
			t.Errorf("%s POST /functions/add-support-agent: %d %s, want 401 with Twilio error 20003", name, status, body)
		}
	}
}

// checkOutboundPolicy publishes a flow whose make-http-request calls the
// URL the customer texts, and texts it the addresses of FlowService's own
// container and network: each call takes the failed transition. The
// tutorial's Function, on the same private network but a --function-map
// target, works (TestTutorial).
func checkOutboundPolicy(t *testing.T, s *stack) {
	def, err := tutorial.LoadDefinition("../services/flow/testdata/flows/probe.json")
	if err != nil {
		t.Fatal(err)
	}
	const number = "+15005550190"
	flowSid := s.publish(t, "probe", def, number)
	for _, target := range []string{
		"http://127.0.0.1:8081/healthz",               // FlowService's own loopback
		"http://localhost:8081/healthz",               // the same by name
		"http://fakeconversations:8083/_fake/healthz", // a private address on the network
		"http://169.254.169.254/latest/meta-data/",    // cloud metadata
	} {
		customer := newCustomer()
		conv := s.text(t, customer, number, target)
		s.waitOutbox(t, conv, "the probe's answer", func(m []fakeclient.OutboundMessage) bool {
			return delivered(m, customer, "refused") || delivered(m, customer, "reached")
		})
		ex := s.waitEnded(t, flowSid, conv, 1)
		if !s.hasStepTo(t, flowSid, ex[0].GetSid(), "refused") {
			t.Errorf("%s: steps %v, want the failed transition to refused", target, s.steps(t, flowSid, ex[0].GetSid()))
		}
	}
}
