package serve_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
	"github.com/convoflow/convoflow/internal/serve"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s = %d %s (%s)", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return string(body)
}

func assertSeries(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// TestServer_metrics: /metrics is Prometheus text without a key, with RPCs
// counted by procedure and code (streams too), refused keys, and the Go
// runtime and process collectors.
func TestServer_metrics(t *testing.T) {
	t.Parallel()
	keys, err := apikey.New([]string{testKey}, "")
	if err != nil {
		t.Fatal(err)
	}
	m := serve.NewMetrics()
	svc := newTestFlowService()
	path, h := flowv1connect.NewFlowServiceHandler(svc, append(serve.HandlerOptions(0), m.HandlerOption())...)
	ts := startServer(t, 0, func(c *serve.Config) {
		c.APIKeys, c.Metrics = keys, m
		c.Services = []serve.Service{{Name: flowv1connect.FlowServiceName, Path: path, Handler: h}}
	})
	t.Cleanup(func() { close(svc.release) })
	c := flowv1connect.NewFlowServiceClient(&http.Client{Transport: apikey.RoundTripper(testKey, nil)}, ts.url)
	for range 3 {
		if _, err := c.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "FW1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "sleep:nope"}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("GetFlow(bad) = %v", err)
	}
	stream, err := c.WatchExecution(t.Context(), &flowv1.WatchExecutionRequest{FlowSid: "1ms", ExecutionSid: "2"})
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	_, _ = flowv1connect.NewFlowServiceClient(http.DefaultClient, ts.url).GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "FW1"})

	text := scrape(t, ts.url+"/metrics")
	assertSeries(t, text,
		`convoflow_rpc_handled_total{code="ok",procedure="/convoflow.flow.v1.FlowService/GetFlow"} 3`,
		`convoflow_rpc_handled_total{code="invalid_argument",procedure="/convoflow.flow.v1.FlowService/GetFlow"} 1`,
		`convoflow_rpc_handled_total{code="ok",procedure="/convoflow.flow.v1.FlowService/WatchExecution"} 1`,
		`convoflow_rpc_duration_seconds_bucket{code="ok",procedure="/convoflow.flow.v1.FlowService/GetFlow",le="+Inf"} 3`,
		`convoflow_auth_refused_total{reason="missing"} 1`,
		"go_goroutines ", "process_cpu_seconds_total ",
	)
}

// TestServer_metricsAddr moves /metrics off the main port.
func TestServer_metricsAddr(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, func(c *serve.Config) { c.Metrics, c.MetricsAddr = serve.NewMetrics(), "127.0.0.1:0" })
	if got := getStatus(t, ts.url+"/metrics"); got != http.StatusNotFound {
		t.Errorf("/metrics on the main port = %d, want 404", got)
	}
	assertSeries(t, scrape(t, "http://"+ts.srv.MetricsAddr().String()+"/metrics"), "go_goroutines ")
}

// TestServer_pprof serves profiles on the metrics address only, and only
// when asked.
func TestServer_pprof(t *testing.T) {
	t.Parallel()
	ts := startServer(t, 0, func(c *serve.Config) {
		c.Metrics, c.MetricsAddr, c.Pprof = serve.NewMetrics(), "127.0.0.1:0", true
	})
	if got := getStatus(t, "http://"+ts.srv.MetricsAddr().String()+"/debug/pprof/goroutine?debug=1"); got != http.StatusOK {
		t.Errorf("/debug/pprof/goroutine on the metrics address = %d, want 200", got)
	}
	if got := getStatus(t, ts.url+"/debug/pprof/goroutine?debug=1"); got == http.StatusOK {
		t.Errorf("/debug/pprof/ answered on the main port")
	}
	plain := startServer(t, 0, func(c *serve.Config) { c.Metrics, c.MetricsAddr = serve.NewMetrics(), "127.0.0.1:0" })
	if got := getStatus(t, "http://"+plain.srv.MetricsAddr().String()+"/debug/pprof/"); got != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without Pprof = %d, want 404", got)
	}
	if _, err := serve.New(serve.Config{Name: "x", Addr: "127.0.0.1:0", Pprof: true}); err == nil {
		t.Error("Pprof without MetricsAddr accepted")
	}
	var o serve.Observability
	o.Pprof = true
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--metrics-listen") {
		t.Errorf("--pprof without --metrics-listen: %v", err)
	}
}
