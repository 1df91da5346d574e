package flow

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/pgtest"
	"github.com/convoflow/convoflow/internal/syncbuf"
)

const testAccountSid = "AC00000000000000000000000000000000"

// TestMain stops the PostgreSQL server internal/pgtest may start (the
// benchmarks with BENCH_STORE=postgres).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// flowClient is the FlowService client surface the tests use; the connect
// client and an adapter over the grpc-go stub both provide it, so every
// table test runs over both stacks.
type flowClient interface {
	CreateFlow(context.Context, *flowv1.CreateFlowRequest) (*flowv1.CreateFlowResponse, error)
	GetFlow(context.Context, *flowv1.GetFlowRequest) (*flowv1.GetFlowResponse, error)
	ListFlows(context.Context, *flowv1.ListFlowsRequest) (*flowv1.ListFlowsResponse, error)
	UpdateFlow(context.Context, *flowv1.UpdateFlowRequest) (*flowv1.UpdateFlowResponse, error)
	DeleteFlow(context.Context, *flowv1.DeleteFlowRequest) (*flowv1.DeleteFlowResponse, error)
	ValidateFlow(context.Context, *flowv1.ValidateFlowRequest) (*flowv1.ValidateFlowResponse, error)
	ListFlowRevisions(context.Context, *flowv1.ListFlowRevisionsRequest) (*flowv1.ListFlowRevisionsResponse, error)
	GetFlowRevision(context.Context, *flowv1.GetFlowRevisionRequest) (*flowv1.GetFlowRevisionResponse, error)
	GetFlowTestUsers(context.Context, *flowv1.GetFlowTestUsersRequest) (*flowv1.GetFlowTestUsersResponse, error)
	UpdateFlowTestUsers(context.Context, *flowv1.UpdateFlowTestUsersRequest) (*flowv1.UpdateFlowTestUsersResponse, error)
	CreateExecution(context.Context, *flowv1.CreateExecutionRequest) (*flowv1.CreateExecutionResponse, error)
	GetExecution(context.Context, *flowv1.GetExecutionRequest) (*flowv1.GetExecutionResponse, error)
	ListExecutions(context.Context, *flowv1.ListExecutionsRequest) (*flowv1.ListExecutionsResponse, error)
	EndExecution(context.Context, *flowv1.EndExecutionRequest) (*flowv1.EndExecutionResponse, error)
	DeleteExecution(context.Context, *flowv1.DeleteExecutionRequest) (*flowv1.DeleteExecutionResponse, error)
	GetExecutionContext(context.Context, *flowv1.GetExecutionContextRequest) (*flowv1.GetExecutionContextResponse, error)
	ListExecutionSteps(context.Context, *flowv1.ListExecutionStepsRequest) (*flowv1.ListExecutionStepsResponse, error)
	GetExecutionStep(context.Context, *flowv1.GetExecutionStepRequest) (*flowv1.GetExecutionStepResponse, error)
	GetExecutionStepContext(context.Context, *flowv1.GetExecutionStepContextRequest) (*flowv1.GetExecutionStepContextResponse, error)
	HandleConversationEvent(context.Context, *flowv1.HandleConversationEventRequest) (*flowv1.HandleConversationEventResponse, error)
	// watch reads a whole WatchExecution stream.
	watch(context.Context, *flowv1.WatchExecutionRequest) ([]*flowv1.WatchExecutionResponse, error)
}

type namedClient struct {
	name string
	flowClient
}

// connectClient speaks the Connect protocol over h2c.
type connectClient struct {
	flowv1connect.FlowServiceClient
}

func (c connectClient) watch(ctx context.Context, req *flowv1.WatchExecutionRequest) ([]*flowv1.WatchExecutionResponse, error) {
	stream, err := c.WatchExecution(ctx, req)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var out []*flowv1.WatchExecutionResponse
	for stream.Receive() {
		out = append(out, stream.Msg())
	}
	return out, stream.Err()
}

// grpcClient adapts the grpc-go stub to flowClient.
type grpcClient struct{ c flowv1.FlowServiceClient }

func (g grpcClient) CreateFlow(ctx context.Context, r *flowv1.CreateFlowRequest) (*flowv1.CreateFlowResponse, error) {
	return g.c.CreateFlow(ctx, r)
}
func (g grpcClient) GetFlow(ctx context.Context, r *flowv1.GetFlowRequest) (*flowv1.GetFlowResponse, error) {
	return g.c.GetFlow(ctx, r)
}
func (g grpcClient) ListFlows(ctx context.Context, r *flowv1.ListFlowsRequest) (*flowv1.ListFlowsResponse, error) {
	return g.c.ListFlows(ctx, r)
}
func (g grpcClient) UpdateFlow(ctx context.Context, r *flowv1.UpdateFlowRequest) (*flowv1.UpdateFlowResponse, error) {
	return g.c.UpdateFlow(ctx, r)
}
func (g grpcClient) DeleteFlow(ctx context.Context, r *flowv1.DeleteFlowRequest) (*flowv1.DeleteFlowResponse, error) {
	return g.c.DeleteFlow(ctx, r)
}
func (g grpcClient) ValidateFlow(ctx context.Context, r *flowv1.ValidateFlowRequest) (*flowv1.ValidateFlowResponse, error) {
	return g.c.ValidateFlow(ctx, r)
}
func (g grpcClient) ListFlowRevisions(ctx context.Context, r *flowv1.ListFlowRevisionsRequest) (*flowv1.ListFlowRevisionsResponse, error) {
	return g.c.ListFlowRevisions(ctx, r)
}
func (g grpcClient) GetFlowRevision(ctx context.Context, r *flowv1.GetFlowRevisionRequest) (*flowv1.GetFlowRevisionResponse, error) {
	return g.c.GetFlowRevision(ctx, r)
}
func (g grpcClient) GetFlowTestUsers(ctx context.Context, r *flowv1.GetFlowTestUsersRequest) (*flowv1.GetFlowTestUsersResponse, error) {
	return g.c.GetFlowTestUsers(ctx, r)
}
func (g grpcClient) UpdateFlowTestUsers(ctx context.Context, r *flowv1.UpdateFlowTestUsersRequest) (*flowv1.UpdateFlowTestUsersResponse, error) {
	return g.c.UpdateFlowTestUsers(ctx, r)
}
func (g grpcClient) CreateExecution(ctx context.Context, r *flowv1.CreateExecutionRequest) (*flowv1.CreateExecutionResponse, error) {
	return g.c.CreateExecution(ctx, r)
}
func (g grpcClient) GetExecution(ctx context.Context, r *flowv1.GetExecutionRequest) (*flowv1.GetExecutionResponse, error) {
	return g.c.GetExecution(ctx, r)
}
func (g grpcClient) ListExecutions(ctx context.Context, r *flowv1.ListExecutionsRequest) (*flowv1.ListExecutionsResponse, error) {
	return g.c.ListExecutions(ctx, r)
}
func (g grpcClient) EndExecution(ctx context.Context, r *flowv1.EndExecutionRequest) (*flowv1.EndExecutionResponse, error) {
	return g.c.EndExecution(ctx, r)
}
func (g grpcClient) DeleteExecution(ctx context.Context, r *flowv1.DeleteExecutionRequest) (*flowv1.DeleteExecutionResponse, error) {
	return g.c.DeleteExecution(ctx, r)
}
func (g grpcClient) GetExecutionContext(ctx context.Context, r *flowv1.GetExecutionContextRequest) (*flowv1.GetExecutionContextResponse, error) {
	return g.c.GetExecutionContext(ctx, r)
}
func (g grpcClient) ListExecutionSteps(ctx context.Context, r *flowv1.ListExecutionStepsRequest) (*flowv1.ListExecutionStepsResponse, error) {
	return g.c.ListExecutionSteps(ctx, r)
}
func (g grpcClient) GetExecutionStep(ctx context.Context, r *flowv1.GetExecutionStepRequest) (*flowv1.GetExecutionStepResponse, error) {
	return g.c.GetExecutionStep(ctx, r)
}
func (g grpcClient) GetExecutionStepContext(ctx context.Context, r *flowv1.GetExecutionStepContextRequest) (*flowv1.GetExecutionStepContextResponse, error) {
	return g.c.GetExecutionStepContext(ctx, r)
}
func (g grpcClient) HandleConversationEvent(ctx context.Context, r *flowv1.HandleConversationEventRequest) (*flowv1.HandleConversationEventResponse, error) {
	return g.c.HandleConversationEvent(ctx, r)
}

func (g grpcClient) watch(ctx context.Context, req *flowv1.WatchExecutionRequest) ([]*flowv1.WatchExecutionResponse, error) {
	stream, err := g.c.WatchExecution(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*flowv1.WatchExecutionResponse
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// h2cClient is an HTTP client that speaks HTTP/2 without TLS, as the
// connect client must to reach the h2c server with every protocol.
func h2cClient() *http.Client {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &protocols, TLSClientConfig: &tls.Config{}}}
}

// clientsFor returns a Connect client, a grpc-go client and a gRPC-Web
// client (connect's) for the server at addr.
func clientsFor(tb testing.TB, addr string) []namedClient {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatalf("grpc.NewClient: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	hc := h2cClient()
	tb.Cleanup(hc.CloseIdleConnections)
	return []namedClient{
		{"connect", connectClient{flowv1connect.NewFlowServiceClient(hc, "http://"+addr)}},
		{"grpc", grpcClient{flowv1.NewFlowServiceClient(conn)}},
		{"grpcweb", connectClient{flowv1connect.NewFlowServiceClient(hc, "http://"+addr, connect.WithGRPCWeb())}},
	}
}

// codeOf returns the status code of an error from either client stack
// (gRPC and connect number their codes the same way).
func codeOf(err error) connect.Code {
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		return cerr.Code()
	}
	if st, ok := status.FromError(err); ok {
		return connect.Code(st.Code())
	}
	return connect.CodeUnknown
}

// detailsOf returns the error details of an error from either stack.
func detailsOf(tb testing.TB, err error) []proto.Message {
	tb.Helper()
	var out []proto.Message
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		for _, d := range cerr.Details() {
			m, err := d.Value()
			if err != nil {
				tb.Fatalf("detail %s: %v", d.Type(), err)
			}
			out = append(out, m)
		}
		return out
	}
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		m, ok := d.(proto.Message)
		if !ok {
			tb.Fatalf("detail %T is not a message: %v", d, d)
		}
		out = append(out, m)
	}
	return out
}

// mustStruct parses JSON into a Struct.
func mustStruct(tb testing.TB, js string) *structpb.Struct {
	tb.Helper()
	s := &structpb.Struct{}
	if err := protojson.Unmarshal([]byte(js), s); err != nil {
		tb.Fatalf("parse struct: %v\n%s", err, js)
	}
	return s
}

// testdataStruct reads testdata/<name> as a Struct.
func testdataStruct(tb testing.TB, name string) *structpb.Struct {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return mustStruct(tb, string(b))
}

// testLogger collects logs and prints them only when the test fails, so a
// server goroutine that logs after the test ended cannot panic t.Log.
func testLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	buf := &syncbuf.Buffer{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("server log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
