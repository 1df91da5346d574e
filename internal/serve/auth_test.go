package serve_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
	"github.com/convoflow/convoflow/internal/grpcurltest"
	"github.com/convoflow/convoflow/internal/serve"
)

const (
	testKey  = "test-key-0123456789abcdef"
	wrongKey = "wrong-key-0123456789abcdef"
)

func startKeyed(t *testing.T) *testServer {
	t.Helper()
	keys, err := apikey.New([]string{testKey}, "")
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, 0, func(c *serve.Config) { c.APIKeys = keys })
}

// withAuth is ctx carrying "authorization" for the client stacks of
// callers: connect clients read it through authHeader, grpc-go as outgoing
// metadata.
func withAuth(ctx context.Context, value string) context.Context {
	if value == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", value)
}

// TestServer_apiKeys is the auth matrix: every client stack, without a key,
// with a wrong one, with a malformed header and with the right key.
func TestServer_apiKeys(t *testing.T) {
	t.Parallel()
	ts := startKeyed(t)
	tests := []struct {
		name   string
		header string
		want   codes.Code
	}{
		{"no_key", "", codes.Unauthenticated},
		{"wrong_key", "Bearer " + wrongKey, codes.Unauthenticated},
		{"not_bearer", "Basic " + testKey, codes.Unauthenticated},
		{"right_key", "Bearer " + testKey, codes.OK},
	}
	t.Run("group", func(t *testing.T) {
		for name, call := range callers(t, ts) {
			for _, tt := range tests {
				t.Run(name+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					sid, code := call(withAuth(t.Context(), tt.header), "FW1")
					if code != tt.want || (tt.want == codes.OK && sid != "FW1") {
						t.Fatalf("GetFlow = %q, %v; want %v", sid, code, tt.want)
					}
				})
			}
		}
	})
	if strings.Contains(ts.logs.String(), testKey) || strings.Contains(ts.logs.String(), wrongKey) {
		t.Errorf("a key reached the log:\n%s", ts.logs.String())
	}
	if !strings.Contains(ts.logs.String(), "RPCs and reflection require an API key") {
		t.Errorf("the start-up log does not say keys are required:\n%s", ts.logs.String())
	}
}

// TestServer_apiKeyMessages checks what a caller without a key learns: the
// code, a message saying what to send, and WWW-Authenticate, over Connect's
// JSON and over plain HTTP.
func TestServer_apiKeyMessages(t *testing.T) {
	t.Parallel()
	ts := startKeyed(t)
	c := flowv1connect.NewFlowServiceClient(http1Client(t), ts.url)
	_, err := c.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "FW1"})
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "authorization: Bearer KEY") {
		t.Errorf("without a key: %v, want Unauthenticated saying what to send", err)
	}
	var cerr *connect.Error
	if errors.As(err, &cerr) && !strings.HasPrefix(cerr.Meta().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate = %q", cerr.Meta().Get("WWW-Authenticate"))
	}
	ck := flowv1connect.NewFlowServiceClient(&http.Client{Transport: apikey.RoundTripper(wrongKey, nil)}, ts.url)
	if _, err := ck.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "FW1"}); connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "invalid API key") {
		t.Errorf("with a wrong key: %v", err)
	}
	// A request in no RPC protocol at all gets a plain 401.
	resp, err := http.Post(ts.url+flowv1connect.FlowServiceGetFlowProcedure, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "missing API key") {
		t.Errorf("plain POST = %d %q, want 401 missing API key", resp.StatusCode, body)
	}
}

// TestServer_apiKeysOpenPaths: health, /healthz and the plain routes (which
// authenticate by signature) need no key; reflection does.
func TestServer_apiKeysOpenPaths(t *testing.T) {
	t.Parallel()
	ts := startKeyed(t)
	conn := grpcConn(t, ts.addr)
	if res, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a key = %v, %v", res, err)
	}
	if got := getStatus(t, ts.url+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz without a key = %d", got)
	}
	resp, err := http.Post(ts.url+"/echo", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("plain route without a key = %d", resp.StatusCode)
	}

	list := func(ctx context.Context) error {
		stream, err := reflectv1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			return err
		}
		// A Send that finds the stream already ended by the server (the
		// key was refused at once) returns io.EOF; the status is Recv's.
		if err := stream.Send(&reflectv1.ServerReflectionRequest{MessageRequest: &reflectv1.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		_, err = stream.Recv()
		return err
	}
	if err := list(t.Context()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("reflection without a key = %v, want Unauthenticated", err)
	}
	if err := list(withAuth(t.Context(), "Bearer "+testKey)); err != nil {
		t.Errorf("reflection with the key: %v", err)
	}
}

// TestServer_grpcurlWithKey is the operator's view: grpcurl needs -H with
// the key for reflection and calls, health included (grpcurl finds even
// health's descriptor by reflection; health itself needs no key, see
// TestServer_apiKeysOpenPaths).
func TestServer_grpcurlWithKey(t *testing.T) {
	t.Parallel()
	grpcurl := grpcurltest.Path(t)
	ts := startKeyed(t)
	auth := []string{"-H", "authorization: Bearer " + testKey}
	grpcurltest.Run(t, grpcurl, ts.addr, []grpcurltest.Case{
		{Name: "list", Args: append(auth, "list"), Want: []string{flowv1connect.FlowServiceName}},
		{Name: "call", Args: append(auth, "-d", `{"sid":"FW1"}`, flowv1connect.FlowServiceName+"/GetFlow"), Want: []string{`"sid": "FW1"`}},
		{Name: "health", Args: append(auth, "grpc.health.v1.Health/Check"), Want: []string{`"status": "SERVING"`}},
	})
	for _, args := range [][]string{{"list"}, {"-d", `{"sid":"FW1"}`, flowv1connect.FlowServiceName + "/GetFlow"}} {
		out, ok := grpcurltest.Output(t, grpcurl, ts.addr, args...)
		if ok || !strings.Contains(out, "Unauthenticated") {
			t.Errorf("grpcurl %q without a key: ok=%v\n%s", args, ok, out)
		}
	}
}

// TestNew_exposure: without keys, a server listens on loopback only, unless
// told --insecure-no-auth.
func TestNew_exposure(t *testing.T) {
	t.Parallel()
	path, h := flowv1connect.NewFlowServiceHandler(newTestFlowService())
	keys, err := apikey.New([]string{testKey}, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr     string
		keys     *apikey.Set
		insecure bool
		refused  bool
	}{
		{"127.0.0.1:0", nil, false, false},
		{"localhost:0", nil, false, false},
		{"[::1]:0", nil, false, false},
		{"127.8.9.10:0", nil, false, false},
		{"0.0.0.0:8081", nil, false, true},
		{":8081", nil, false, true},
		{"[::]:8081", nil, false, true},
		{"10.0.0.5:8081", nil, false, true},
		{"flow.internal:8081", nil, false, true},
		{"0.0.0.0:8081", keys, false, false},
		{"0.0.0.0:8081", nil, true, false},
	}
	for _, tt := range tests {
		_, err := serve.New(serve.Config{
			Name: "x", Addr: tt.addr, Logger: slog.New(slog.DiscardHandler),
			Services: []serve.Service{{Name: flowv1connect.FlowServiceName, Path: path, Handler: h}},
			APIKeys:  tt.keys, InsecureNoAuth: tt.insecure,
		})
		if refused := errors.Is(err, serve.ErrNoAuth); refused != tt.refused || (!tt.refused && err != nil) {
			t.Errorf("New(%s, keys=%v, insecure=%v) = %v, want refused=%v", tt.addr, tt.keys != nil, tt.insecure, err, tt.refused)
		}
		if tt.refused && err != nil && !strings.Contains(err.Error(), "--insecure-no-auth") {
			t.Errorf("refusal %q does not say how to proceed", err)
		}
	}
}
