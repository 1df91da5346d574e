//go:build e2e

package e2e

import (
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
)

// TestAPIKeys is the auth matrix against the images, as a new user meets
// it: both services started with an API key (from the environment) answer
// RPCs without a key or with a wrong one Unauthenticated, work with the
// key, and leave health open.
func TestAPIKeys(t *testing.T) {
	s := startStack(t)
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
