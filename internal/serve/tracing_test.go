package serve_test

import (
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/serve"
)

// TestServer_tracing: with a tracer provider every request but health
// checks gets a server span that continues the caller's traceparent, named
// by procedure or route pattern (no SIDs).
func TestServer_tracing(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	ts := startServer(t, 0, func(c *serve.Config) { c.Tracing = tp })

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.url+"/echo", strings.NewReader("hi"))
	req.Header.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c := flowv1connect.NewFlowServiceClient(http.DefaultClient, ts.url)
	if _, err := c.GetFlow(t.Context(), &flowv1.GetFlowRequest{Sid: "FW1"}); err != nil {
		t.Fatal(err)
	}
	if got := getStatus(t, ts.url+"/healthz"); got != http.StatusOK {
		t.Fatal(got)
	}

	spans := exp.GetSpans()
	names := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		names[s.Name] = s
	}
	if len(spans) != 2 {
		t.Errorf("%d spans %v, want 2 (health is not traced)", len(spans), spans)
	}
	echo, ok := names["POST /echo"]
	if !ok {
		t.Fatalf("no span named by the route pattern: %v", spans)
	}
	if echo.SpanContext.TraceID().String() != traceID || echo.Parent.SpanID().String() != parentID || echo.SpanKind != trace.SpanKindServer {
		t.Errorf("the route's span %v does not continue the caller's trace", echo.SpanContext)
	}
	if _, ok := names[flowv1connect.FlowServiceGetFlowProcedure]; !ok {
		t.Errorf("no span named by the procedure: %v", spans)
	}
}
