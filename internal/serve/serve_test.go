package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/internal/syncbuf"
)

// testFlowService implements just enough of FlowService to exercise the
// plumbing; every other RPC answers Unimplemented.
type testFlowService struct {
	flowv1connect.UnimplementedFlowServiceHandler
	// release unblocks GetFlow calls for the flow SID "slow".
	release chan struct{}
	// slowStarted receives a value when a "slow" GetFlow begins.
	slowStarted chan struct{}
}

func newTestFlowService() *testFlowService {
	return &testFlowService{release: make(chan struct{}), slowStarted: make(chan struct{}, 1)}
}

func (s *testFlowService) GetFlow(ctx context.Context, req *flowv1.GetFlowRequest) (*flowv1.GetFlowResponse, error) {
	switch {
	case req.GetSid() == "panic":
		panic("test panic")
	case req.GetSid() == "slow":
		s.slowStarted <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, connect.NewError(connect.CodeCanceled, ctx.Err())
		}
	case strings.HasPrefix(req.GetSid(), "sleep:"):
		d, err := time.ParseDuration(strings.TrimPrefix(req.GetSid(), "sleep:"))
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		// Sleeping on the request's context shows a cancelled request as
		// an error.
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, connect.NewError(connect.CodeCanceled, ctx.Err())
		}
	}
	return &flowv1.GetFlowResponse{Flow: &flowv1.Flow{Sid: req.GetSid(), FriendlyName: "test"}}, nil
}

func (s *testFlowService) CreateFlow(_ context.Context, req *flowv1.CreateFlowRequest) (*flowv1.CreateFlowResponse, error) {
	return &flowv1.CreateFlowResponse{Flow: &flowv1.Flow{FriendlyName: req.GetFriendlyName()}}, nil
}

// WatchExecution sends one step every interval, where interval and count
// come from the request: flow_sid is the interval, execution_sid the count.
// A count of 0 streams until the context ends.
func (s *testFlowService) WatchExecution(ctx context.Context, req *flowv1.WatchExecutionRequest, stream *connect.ServerStream[flowv1.WatchExecutionResponse]) error {
	interval, err := time.ParseDuration(req.GetFlowSid())
	if err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	count, err := strconv.Atoi(req.GetExecutionSid())
	if err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for i := 0; count == 0 || i < count; i++ {
		if err := stream.Send(&flowv1.WatchExecutionResponse{Step: &flowv1.ExecutionStep{Sid: "FT" + string(rune('a'+i%26))}}); err != nil {
			return err
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return connect.NewError(connect.CodeCanceled, ctx.Err())
		}
	}
	return nil
}

type testServer struct {
	srv  *serve.Server
	svc  *testFlowService
	logs *syncbuf.Buffer
	url  string
	addr string
	// stop cancels Run and returns its result.
	stop func() error
}

// startServer runs a server on 127.0.0.1:0 with the test FlowService and a
// plain echo route, after letting edit adjust the config.
func startServer(t testing.TB, maxMessageBytes int, edit func(*serve.Config)) *testServer {
	t.Helper()
	svc := newTestFlowService()
	path, h := flowv1connect.NewFlowServiceHandler(svc, serve.HandlerOptions(maxMessageBytes)...)
	logs := &syncbuf.Buffer{}
	cfg := serve.Config{
		Name:     "testservice",
		Addr:     "127.0.0.1:0",
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Services: []serve.Service{{Name: flowv1connect.FlowServiceName, Path: path, Handler: h}},
		Routes: []serve.Route{{
			Pattern: "POST /echo",
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if serve.IsTooLarge(err) {
					http.Error(w, "too large", http.StatusRequestEntityTooLarge)
					return
				}
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				_, _ = w.Write(body)
			}),
		}, {
			// /sleep?d=DURATION reads the body, then answers after d, or
			// 503 if the request's context ends first.
			Pattern: "/sleep",
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.Copy(io.Discard, r.Body); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				d, err := time.ParseDuration(r.URL.Query().Get("d"))
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				select {
				case <-time.After(d):
					_, _ = io.WriteString(w, "slept")
				case <-r.Context().Done():
					http.Error(w, "cancelled", http.StatusServiceUnavailable)
				}
			}),
		}, {
			// /ticks?n=N writes N lines 50 ms apart, flushing each: a
			// streaming route.
			Pattern:   "GET /ticks",
			Streaming: true,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := strconv.Atoi(r.URL.Query().Get("n"))
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				rc := http.NewResponseController(w)
				for i := range n {
					select {
					case <-time.After(50 * time.Millisecond):
					case <-r.Context().Done():
						return
					}
					if _, err := fmt.Fprintf(w, "tick %d\n", i); err != nil {
						return
					}
					_ = rc.Flush()
				}
			}),
		}, {
			Pattern: "GET /boom",
			Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("route panic") }),
		}},
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := serve.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() {
		close(svc.release)
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &testServer{srv: srv, svc: svc, logs: logs, url: srv.URL(), addr: srv.Addr().String(), stop: stop}
}

// h2cClient speaks HTTP/2 with prior knowledge, as gRPC clients do.
func h2cClient(t testing.TB) *http.Client {
	t.Helper()
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func http1Client(tb testing.TB) *http.Client {
	tb.Helper()
	tr := &http.Transport{}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func grpcConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// flowCaller calls GetFlow through one client stack and returns the flow SID
// and the error's gRPC code.
type flowCaller func(ctx context.Context, sid string) (string, codes.Code)

func callers(t *testing.T, ts *testServer) map[string]flowCaller {
	t.Helper()
	connectCall := func(c flowv1connect.FlowServiceClient) flowCaller {
		return func(ctx context.Context, sid string) (string, codes.Code) {
			res, err := c.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: sid})
			if err != nil {
				return "", codes.Code(connect.CodeOf(err))
			}
			return res.GetFlow().GetSid(), codes.OK
		}
	}
	grpcClient := flowv1.NewFlowServiceClient(grpcConn(t, ts.addr))
	// The connect clients send the ctx's outgoing gRPC metadata as headers,
	// as grpc-go does, so one context drives every stack.
	md := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			out, _ := metadata.FromOutgoingContext(ctx)
			for k, vs := range out {
				for _, v := range vs {
					req.Header().Add(k, v)
				}
			}
			return next(ctx, req)
		}
	}))
	return map[string]flowCaller{
		"connect_grpc_h2c":    connectCall(flowv1connect.NewFlowServiceClient(h2cClient(t), ts.url, connect.WithGRPC(), md)),
		"connect_grpcweb_h2c": connectCall(flowv1connect.NewFlowServiceClient(h2cClient(t), ts.url, connect.WithGRPCWeb(), md)),
		"connect_http1":       connectCall(flowv1connect.NewFlowServiceClient(http1Client(t), ts.url, md)),
		"grpc_go": func(ctx context.Context, sid string) (string, codes.Code) {
			res, err := grpcClient.GetFlow(ctx, &flowv1.GetFlowRequest{Sid: sid})
			if err != nil {
				return "", status.Code(err)
			}
			return res.GetFlow().GetSid(), codes.OK
		},
	}
}

func TestServer_protocols(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)
	// The group returns only after its parallel subtests have finished.
	t.Run("group", func(t *testing.T) {
		for name, call := range callers(t, ts) {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sid, code := call(t.Context(), "FW123")
				if code != codes.OK || sid != "FW123" {
					t.Fatalf("GetFlow = %q, %v; want FW123, OK", sid, code)
				}
				// A panicking handler fails the call, whatever the protocol.
				if _, code := call(t.Context(), "panic"); code == codes.OK {
					t.Fatalf("GetFlow(panic) succeeded")
				}
			})
		}
	})
	// The server survived the panics and logged them.
	if sid, code := callers(t, ts)["grpc_go"](t.Context(), "FW1"); code != codes.OK || sid != "FW1" {
		t.Fatalf("after panics: GetFlow = %q, %v", sid, code)
	}
	if n := strings.Count(ts.logs.String(), "panic serving request"); n != 4 {
		t.Errorf("logged %d panics, want 4:\n%s", n, ts.logs.String())
	}
}

func TestServer_listeningLog(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)
	if !strings.HasPrefix(ts.addr, "127.0.0.1:") || strings.HasSuffix(ts.addr, ":0") {
		t.Fatalf("Addr() = %q, want the bound 127.0.0.1 port", ts.addr)
	}
	want := `msg="listening on ` + ts.addr + `"`
	if !strings.Contains(ts.logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, ts.logs.String())
	}
	if !strings.Contains(ts.logs.String(), "svc=testservice") {
		t.Errorf("log lacks svc attribute:\n%s", ts.logs.String())
	}
}

func TestServer_health(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)

	type checkFunc func(ctx context.Context, service string) (healthpb.HealthCheckResponse_ServingStatus, codes.Code)
	connectHealth := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](
		h2cClient(t), ts.url+"/grpc.health.v1.Health/Check", connect.WithGRPC())
	grpcHealth := healthpb.NewHealthClient(grpcConn(t, ts.addr))
	checks := map[string]checkFunc{
		"connect": func(ctx context.Context, service string) (healthpb.HealthCheckResponse_ServingStatus, codes.Code) {
			res, err := connectHealth.CallUnary(ctx, connect.NewRequest(&healthpb.HealthCheckRequest{Service: service}))
			if err != nil {
				return 0, codes.Code(connect.CodeOf(err))
			}
			return res.Msg.GetStatus(), codes.OK
		},
		"grpc_go": func(ctx context.Context, service string) (healthpb.HealthCheckResponse_ServingStatus, codes.Code) {
			res, err := grpcHealth.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
			if err != nil {
				return 0, status.Code(err)
			}
			return res.GetStatus(), codes.OK
		},
	}
	tests := []struct {
		name    string
		service string
		serving bool
		want    healthpb.HealthCheckResponse_ServingStatus
		code    codes.Code
	}{
		{"server_serving", "", true, healthpb.HealthCheckResponse_SERVING, codes.OK},
		{"service_serving", flowv1connect.FlowServiceName, true, healthpb.HealthCheckResponse_SERVING, codes.OK},
		{"unknown_service", "nope.v1.Nope", true, 0, codes.NotFound},
		{"server_not_serving", "", false, healthpb.HealthCheckResponse_NOT_SERVING, codes.OK},
		{"service_not_serving", flowv1connect.FlowServiceName, false, healthpb.HealthCheckResponse_NOT_SERVING, codes.OK},
	}
	// Subtests run in order because they flip the shared status.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.srv.SetServing(tt.serving)
			for client, check := range checks {
				got, code := check(t.Context(), tt.service)
				if code != tt.code || got != tt.want {
					t.Errorf("%s: Check(%q) = %v, %v; want %v, %v", client, tt.service, got, code, tt.want, tt.code)
				}
			}
			wantHTTP := http.StatusOK
			if !tt.serving {
				wantHTTP = http.StatusServiceUnavailable
			}
			if got := getStatus(t, ts.url+"/healthz"); got != wantHTTP {
				t.Errorf("GET /healthz = %d, want %d", got, wantHTTP)
			}
		})
	}
	ts.srv.SetServing(true)
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http1Client(t).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func TestServer_healthz(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)
	res, err := http1Client(t).Get(ts.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\\n\"", res.StatusCode, body)
	}
	if got := getStatus(t, ts.url+"/nothing-here"); got != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", got)
	}
}

func TestServer_reflection(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)
	conn := grpcConn(t, ts.addr)
	want := []string{flowv1connect.FlowServiceName, grpchealth.HealthV1ServiceName}

	t.Run("v1", func(t *testing.T) {
		t.Parallel()
		stream, err := reflectv1.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectv1.ServerReflectionRequest{
			MessageRequest: &reflectv1.ServerReflectionRequest_ListServices{},
		}); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range res.GetListServicesResponse().GetService() {
			got = append(got, s.GetName())
		}
		assertContainsAll(t, got, want)

		// describe: the service's file resolves, as grpcurl describe needs.
		if err := stream.Send(&reflectv1.ServerReflectionRequest{
			MessageRequest: &reflectv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: flowv1connect.FlowServiceName},
		}); err != nil {
			t.Fatal(err)
		}
		res, err = stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.GetFileDescriptorResponse().GetFileDescriptorProto()); n == 0 {
			t.Errorf("FileContainingSymbol returned no files: %v", res)
		}
		_ = stream.CloseSend()
	})
	t.Run("v1alpha", func(t *testing.T) {
		t.Parallel()
		stream, err := reflectv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectv1alpha.ServerReflectionRequest{
			MessageRequest: &reflectv1alpha.ServerReflectionRequest_ListServices{},
		}); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range res.GetListServicesResponse().GetService() {
			got = append(got, s.GetName())
		}
		assertContainsAll(t, got, want)
		_ = stream.CloseSend()
	})
}

func assertContainsAll(t *testing.T, got, want []string) {
	t.Helper()
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("services %v lack %s", got, w)
		}
	}
}

func TestServer_requestTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 1024
	ts := startServer(t, limit, func(c *serve.Config) { c.MaxRequestBytes = limit })
	big := &flowv1.CreateFlowRequest{FriendlyName: strings.Repeat("x", 2*limit)}
	small := &flowv1.CreateFlowRequest{FriendlyName: "ok", Definition: &structpb.Struct{}}

	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		for name, client := range map[string]flowv1connect.FlowServiceClient{
			"grpc":    flowv1connect.NewFlowServiceClient(h2cClient(t), ts.url, connect.WithGRPC()),
			"connect": flowv1connect.NewFlowServiceClient(http1Client(t), ts.url),
		} {
			if _, err := client.CreateFlow(t.Context(), big); connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Errorf("%s: oversized CreateFlow error = %v, want ResourceExhausted", name, err)
			}
			if _, err := client.CreateFlow(t.Context(), small); err != nil {
				t.Errorf("%s: small CreateFlow: %v", name, err)
			}
		}
	})
	t.Run("grpc_go", func(t *testing.T) {
		t.Parallel()
		client := flowv1.NewFlowServiceClient(grpcConn(t, ts.addr))
		if _, err := client.CreateFlow(t.Context(), big); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("oversized CreateFlow error = %v, want ResourceExhausted", err)
		}
		if _, err := client.CreateFlow(t.Context(), small); err != nil {
			t.Errorf("small CreateFlow: %v", err)
		}
	})
	t.Run("plain_route", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			size int
			want int
		}{
			{"at_limit", limit, http.StatusOK},
			{"over_limit", limit + 1, http.StatusRequestEntityTooLarge},
		}
		for _, tt := range tests {
			res, err := http1Client(t).Post(ts.url+"/echo", "text/plain", strings.NewReader(strings.Repeat("y", tt.size)))
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("%s: POST /echo = %d, want %d", tt.name, res.StatusCode, tt.want)
			}
			if tt.want == http.StatusOK && len(body) != tt.size {
				t.Errorf("%s: echoed %d bytes, want %d", tt.name, len(body), tt.size)
			}
		}
	})
}

func TestServer_routePanic(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)
	if got := getStatus(t, ts.url+"/boom"); got != http.StatusInternalServerError {
		t.Errorf("GET /boom = %d, want 500", got)
	}
	if !strings.Contains(ts.logs.String(), `panic="route panic"`) {
		t.Errorf("panic not logged:\n%s", ts.logs.String())
	}
	if got := getStatus(t, ts.url+"/healthz"); got != http.StatusOK {
		t.Errorf("after panic: GET /healthz = %d", got)
	}
}

// TestServer_streamOutlivesTimeouts checks that streams are not cut by the
// read and write timeouts that bound unary requests, while unary requests
// are.
func TestServer_streamOutlivesTimeouts(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, func(c *serve.Config) {
		c.ReadTimeout = 100 * time.Millisecond
		c.WriteTimeout = 300 * time.Millisecond
	})
	clients := map[string]flowv1connect.FlowServiceClient{
		"grpc_h2c":      flowv1connect.NewFlowServiceClient(h2cClient(t), ts.url, connect.WithGRPC()),
		"connect_http1": flowv1connect.NewFlowServiceClient(http1Client(t), ts.url),
	}
	for name, client := range clients {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// 8 steps 50 ms apart: the stream outlasts both timeouts.
			stream, err := client.WatchExecution(t.Context(), &flowv1.WatchExecutionRequest{FlowSid: "50ms", ExecutionSid: "8"})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for stream.Receive() {
				n++
			}
			if err := stream.Err(); err != nil || n != 8 {
				t.Fatalf("stream got %d steps, err %v; want 8, nil", n, err)
			}

			// A unary call that outlasts ReadTimeout after its request was
			// read in full must not be cancelled.
			if _, err := client.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "sleep:150ms"}); err != nil {
				t.Errorf("GetFlow sleeping past ReadTimeout, under WriteTimeout: %v", err)
			}
			// One that outlasts WriteTimeout fails.
			if _, err := client.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "sleep:500ms"}); err == nil {
				t.Errorf("GetFlow sleeping past WriteTimeout succeeded")
			}
		})
	}
	t.Run("streaming_route", func(t *testing.T) {
		t.Parallel()
		for name, client := range map[string]*http.Client{"http1": http1Client(t), "h2c": h2cClient(t)} {
			res, err := client.Get(ts.url + "/ticks?n=8")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || strings.Count(string(body), "tick") != 8 {
				t.Errorf("%s: GET /ticks?n=8 past WriteTimeout = %q, %v; want 8 ticks", name, body, err)
			}
		}
	})
	t.Run("grpc_go_stream", func(t *testing.T) {
		t.Parallel()
		client := flowv1.NewFlowServiceClient(grpcConn(t, ts.addr))
		stream, err := client.WatchExecution(t.Context(), &flowv1.WatchExecutionRequest{FlowSid: "50ms", ExecutionSid: "8"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			_, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("after %d steps: %v", n, err)
			}
			n++
		}
		if n != 8 {
			t.Fatalf("stream got %d steps, want 8", n)
		}
	})
}

// TestServer_readTimeoutEndsWithTheBody checks that ReadTimeout bounds
// reading a request, not handling it: a handler that runs past ReadTimeout
// (and within WriteTimeout) after its request was read is not cancelled,
// with or without a body, on either protocol. On HTTP/1.1 a read deadline
// left on the connection would cancel the request once it expires.
func TestServer_readTimeoutEndsWithTheBody(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, func(c *serve.Config) {
		c.ReadTimeout = 100 * time.Millisecond
		c.WriteTimeout = time.Second
	})
	clients := map[string]func(testing.TB) *http.Client{
		"http1": http1Client,
		"h2c":   h2cClient,
	}
	for name, client := range clients {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(name+"_"+method, func(t *testing.T) {
				t.Parallel()
				var body io.Reader
				if method == http.MethodPost {
					body = strings.NewReader("some body")
				}
				req, err := http.NewRequestWithContext(t.Context(), method, ts.url+"/sleep?d=250ms", body)
				if err != nil {
					t.Fatal(err)
				}
				res, err := client(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				got, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusOK || string(got) != "slept" {
					t.Errorf("%s /sleep = %d %q, want 200 \"slept\"", method, res.StatusCode, got)
				}
			})
		}
	}
}

func TestServer_gracefulShutdown(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)
	client := flowv1connect.NewFlowServiceClient(h2cClient(t), ts.url, connect.WithGRPC())

	// An endless stream and a unary call that blocks until released.
	stream, err := client.WatchExecution(t.Context(), &flowv1.WatchExecutionRequest{FlowSid: "10ms", ExecutionSid: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() {
		t.Fatalf("stream: %v", stream.Err())
	}
	unaryErr := make(chan error, 1)
	go func() {
		_, err := client.GetFlow(context.Background(), &flowv1.GetFlowRequest{Sid: "slow"})
		unaryErr <- err
	}()
	<-ts.svc.slowStarted

	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()

	// Shutdown cancels the stream at once...
	for stream.Receive() {
	}
	if code := connect.CodeOf(stream.Err()); code != connect.CodeCanceled {
		t.Errorf("stream ended with %v, want Canceled", stream.Err())
	}
	// ...turns health NOT_SERVING...
	if ts.srv.Serving() {
		t.Errorf("still serving during shutdown")
	}
	// ...and waits for the unary call, which succeeds once released.
	select {
	case err := <-stopped:
		t.Fatalf("Run returned %v before the in-flight request finished", err)
	default:
	}
	ts.svc.release <- struct{}{}
	if err := <-unaryErr; err != nil {
		t.Errorf("in-flight GetFlow: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	// The port is closed.
	if conn, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("still accepting connections after Run returned")
	}
}

func TestServer_shutdownTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, func(c *serve.Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	client := flowv1connect.NewFlowServiceClient(h2cClient(t), ts.url, connect.WithGRPC())
	unaryErr := make(chan error, 1)
	go func() {
		_, err := client.GetFlow(context.Background(), &flowv1.GetFlowRequest{Sid: "slow"})
		unaryErr <- err
	}()
	<-ts.svc.slowStarted
	// The request never finishes on its own: Run must still return once the
	// shutdown timeout has passed, closing the connection.
	if err := ts.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := <-unaryErr; err == nil {
		t.Errorf("request cut by shutdown succeeded")
	}
	if !strings.Contains(ts.logs.String(), "graceful shutdown incomplete") {
		t.Errorf("forced close not logged:\n%s", ts.logs.String())
	}
}

func TestServer_runTwice(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)
	if err := ts.srv.Run(t.Context()); err == nil {
		t.Errorf("second Run succeeded")
	}
}

func TestServer_listenError(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, nil)
	_, h := flowv1connect.NewFlowServiceHandler(newTestFlowService())
	srv, err := serve.New(serve.Config{
		Name: "dup", Addr: ts.addr, Logger: slog.New(slog.DiscardHandler),
		Services: []serve.Service{{Name: flowv1connect.FlowServiceName, Path: "/convoflow.flow.v1.FlowService/", Handler: h}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Run on a taken port = %v, want a listen error", err)
	}
}

func TestNew_errors(t *testing.T) {
	t.Parallel()
	path, h := flowv1connect.NewFlowServiceHandler(newTestFlowService())
	valid := func() serve.Config {
		return serve.Config{
			Name: "x", Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
			Services: []serve.Service{{Name: flowv1connect.FlowServiceName, Path: path, Handler: h}},
		}
	}
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	tests := []struct {
		name string
		edit func(*serve.Config)
		want string
	}{
		{"no_name", func(c *serve.Config) { c.Name = "" }, "Name is required"},
		{"no_addr", func(c *serve.Config) { c.Addr = "" }, "Addr is required"},
		{"no_logger", func(c *serve.Config) { c.Logger = nil }, "Logger is required"},
		{"no_services", func(c *serve.Config) { c.Services = nil }, "at least one Service"},
		{"unregistered_service", func(c *serve.Config) { c.Services[0].Name = "nope.v1.Nope" }, "not registered"},
		{"not_a_service", func(c *serve.Config) { c.Services[0].Name = "convoflow.flow.v1.Flow" }, "not a service"},
		{"incomplete_service", func(c *serve.Config) { c.Services[0].Handler = nil }, "needs Name, Path and Handler"},
		{"incomplete_route", func(c *serve.Config) { c.Routes = []serve.Route{{Pattern: "GET /x"}} }, "needs Pattern and Handler"},
		{"conflicting_route", func(c *serve.Config) { c.Routes = []serve.Route{{Pattern: "GET /healthz", Handler: ok}} }, "conflicts"},
		{"bad_pattern", func(c *serve.Config) { c.Routes = []serve.Route{{Pattern: "GET /{", Handler: ok}} }, "serve:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			cfg.Services = append([]serve.Service(nil), cfg.Services...)
			tt.edit(&cfg)
			_, err := serve.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
