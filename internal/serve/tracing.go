package serve

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/convoflow/convoflow/internal/telemetry"
)

// traced wraps the server's handler in an OpenTelemetry server span per
// request, continuing the caller's trace (W3C traceparent), so that RPCs,
// webhooks and Function calls join the trace of whoever made them. Health
// checks and scrapes are not traced. Without Config.Tracing nothing is
// done; the programs pass a no-op provider when they export nothing, so
// that the caller's span context still reaches whatever the handler calls
// (and its traceparent is passed on).
func (s *Server) traced(h http.Handler) http.Handler {
	tp := s.cfg.Tracing
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, s.cfg.Name,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(telemetry.Propagator),
		otelhttp.WithFilter(func(r *http.Request) bool {
			p := r.URL.Path
			return p != "/healthz" && !isMetrics(p) && !strings.HasPrefix(p, "/grpc.health.v1.Health/")
		}),
		// RPC paths name the procedure; routes take their mux pattern
		// (otelhttp asks again once the mux has set it), so that span
		// names do not carry SIDs.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			switch {
			case s.needsKey(r.URL.Path):
				return r.URL.Path
			case r.Pattern != "":
				return r.Pattern
			}
			return r.Method
		}),
	)
}
