package serve

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/convoflow/convoflow/internal/apikey"
)

// Metrics is a server's Prometheus registry with the series every
// convoflow server has: RPCs by procedure and code, with their latency,
// refused API keys, and the Go runtime and process collectors. Services
// register their own series on Registry. Each server has its own registry,
// so several servers in one test process do not share counters.
type Metrics struct {
	Registry *prometheus.Registry

	rpcs      *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	authFails *prometheus.CounterVec
}

// NewMetrics returns the registry of one server.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convoflow_rpc_handled_total",
			Help: "RPCs completed, by procedure (/package.Service/Method) and gRPC code.",
		}, []string{"procedure", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "convoflow_rpc_duration_seconds",
			Help: "Time from an RPC's start to its end (the whole stream for streaming RPCs), by procedure and code.",
			// From a cached read (~100 µs) to a slow Conversations API
			// call behind a unary RPC (seconds).
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"procedure", "code"}),
		authFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convoflow_auth_refused_total",
			Help: "Requests refused for a missing or wrong API key, by reason.",
		}, []string{"reason"}),
	}
	m.Registry.MustRegister(m.rpcs, m.latency, m.authFails,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry, EnableOpenMetrics: true})
}

// Interceptor counts and times every RPC.
func (m *Metrics) Interceptor() connect.Interceptor { return rpcMetrics{m} }

// HandlerOption installs Interceptor; services pass it to their generated
// New…ServiceHandler beside HandlerOptions.
func (m *Metrics) HandlerOption() connect.HandlerOption {
	return connect.WithInterceptors(m.Interceptor())
}

func (m *Metrics) observe(procedure string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	m.rpcs.WithLabelValues(procedure, code).Inc()
	m.latency.WithLabelValues(procedure, code).Observe(time.Since(start).Seconds())
}

func (m *Metrics) refused(err error) {
	if m == nil {
		return
	}
	reason := "wrong"
	if errors.Is(err, apikey.ErrMissing) {
		reason = "missing"
	}
	m.authFails.WithLabelValues(reason).Inc()
}

type rpcMetrics struct{ m *Metrics }

func (r rpcMetrics) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, err := next(ctx, req)
		r.m.observe(req.Spec().Procedure, start, err)
		return res, err
	}
}

func (r rpcMetrics) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r rpcMetrics) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		r.m.observe(conn.Spec().Procedure, start, err)
		return err
	}
}

// metricsPath is where a server serves its metrics.
const metricsPath = "/metrics"

// isMetrics reports whether a request is a scrape, which logs at debug
// level like health checks.
func isMetrics(path string) bool { return strings.TrimSuffix(path, "/") == metricsPath }
