package flow

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a minimal OTLP/HTTP trace collector: it keeps every span
// exported to it.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				rc.spans = append(rc.spans, ss.GetSpans()...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *otlpReceiver) all() []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...)
}

// TestE2E_traces runs the tutorial with OTLP export on (the standard
// OTEL_EXPORTER_OTLP_ENDPOINT) and checks the one trace it makes: the
// webhook's server span, the event's processing span under it with every
// step as an event, the run-function call as a client span under that, and
// the Function receiving the trace's traceparent. The request log carries
// the trace ID.
func TestE2E_traces(t *testing.T) {
	t.Parallel()
	rc := newOTLPReceiver(t)
	s := startStackWith(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rc.URL, "OTEL_SERVICE_NAME": "flowservice-test"})
	c := s.svc.clients[0]
	flowSid := deploy(t, c, "support agent", readShared(t, "flows/support-agent.json"))
	ch := s.conversation(t, flowSid, customer, colleague)
	s.text(t, customer, "support")
	executionIn(t, c, flowSid, ch, ended)
	// Stopping flushes the batch of spans.
	if err := s.svc.stop(); err != nil {
		t.Fatal(err)
	}
	spans := rc.all()
	byName := map[string]*tracepb.Span{}
	for _, sp := range spans {
		byName[sp.GetName()] = sp
	}
	hook := byName[webhookPattern]
	event := byName["flow.event"]
	if hook == nil || event == nil {
		names := make([]string, 0, len(spans))
		for _, sp := range spans {
			names = append(names, sp.GetName())
		}
		t.Fatalf("spans %q lack the webhook's (%s) or flow.event", names, webhookPattern)
	}
	traceID := hex.EncodeToString(hook.GetTraceId())
	if hex.EncodeToString(event.GetTraceId()) != traceID || !proto.Equal(&tracepb.Span{SpanId: event.GetParentSpanId()}, &tracepb.Span{SpanId: hook.GetSpanId()}) {
		t.Errorf("flow.event is not a child of the webhook's span")
	}
	var widgets []string
	for _, ev := range event.GetEvents() {
		if ev.GetName() != "step" {
			continue
		}
		for _, a := range ev.GetAttributes() {
			if a.GetKey() == "convoflow.widget" {
				widgets = append(widgets, a.GetValue().GetStringValue())
			}
		}
	}
	if len(widgets) < 3 || widgets[0] != "Trigger" {
		t.Errorf("flow.event's step events = %q, want the path from Trigger", widgets)
	}
	var call *tracepb.Span
	for _, sp := range spans {
		if sp.GetKind() == tracepb.Span_SPAN_KIND_CLIENT && string(sp.GetParentSpanId()) == string(event.GetSpanId()) {
			call = sp
		}
	}
	if call == nil {
		t.Fatalf("no client span under flow.event for the run-function call")
	}
	s.mu.Lock()
	tps := append([]string(nil), s.traceparents...)
	s.mu.Unlock()
	want := "00-" + traceID + "-" + hex.EncodeToString(call.GetSpanId()) + "-01"
	if len(tps) != 1 || tps[0] != want {
		t.Errorf("the Function got traceparent %q, want %q", tps, want)
	}
	if !strings.Contains(s.svc.logs.buf.String(), "trace_id="+traceID) {
		t.Errorf("no log line carries trace_id=%s", traceID)
	}
}
