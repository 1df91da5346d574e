package serve_test

import (
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	reflectv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/serve"
)

// TestServer_twoServices serves ParticipantService next to FlowService:
// both are reflected, health-checked and routed, and an RPC a handler does
// not implement answers Unimplemented through both client stacks.
func TestServer_twoServices(t *testing.T) {
	t.Parallel()
	path, h := participantv1connect.NewParticipantServiceHandler(
		participantv1connect.UnimplementedParticipantServiceHandler{}, serve.HandlerOptions(0)...)
	ts := startServer(t, 0, func(c *serve.Config) {
		c.Services = append(c.Services, serve.Service{Name: participantv1connect.ParticipantServiceName, Path: path, Handler: h})
	})

	conn := grpcConn(t, ts.addr)
	stream, err := reflectv1.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectv1.ServerReflectionRequest{MessageRequest: &reflectv1.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assertContainsAll(t, names, []string{flowv1connect.FlowServiceName, participantv1connect.ParticipantServiceName, "grpc.health.v1.Health"})
	_ = stream.CloseSend()

	req := &participantv1.ListAgentsRequest{}
	if _, err := participantv1.NewParticipantServiceClient(conn).ListAgents(t.Context(), req); status.Code(err) != codes.Unimplemented {
		t.Errorf("grpc-go ListAgents error = %v, want Unimplemented", err)
	}
	client := participantv1connect.NewParticipantServiceClient(http1Client(t), ts.url)
	if _, err := client.ListAgents(t.Context(), req); connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Errorf("connect ListAgents error = %v, want Unimplemented", err)
	}
}
