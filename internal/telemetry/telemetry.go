// Package telemetry sets up OpenTelemetry tracing for a convoflow server:
// an OTLP exporter when the standard OTEL_EXPORTER_OTLP_* variables name an
// endpoint, nothing otherwise, W3C trace context and baggage propagation
// either way (so a traceparent that arrives is passed on even when this
// process exports nothing), and a log handler that adds the trace and span
// IDs to every record logged with a context.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Propagator is what every convoflow server reads from requests and writes
// into its own: W3C traceparent/tracestate and baggage.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Tracing is a server's tracer provider and how to flush it.
type Tracing struct {
	Provider trace.TracerProvider
	// Exporting says whether spans leave the process.
	Exporting bool
	shutdown  func(context.Context) error
}

// Shutdown flushes the spans not exported yet and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// ShutdownTimeout bounds Close: a collector that is down costs at most
// this long when a program exits.
const ShutdownTimeout = 5 * time.Second

// Close is Shutdown for a program's exit: it flushes the spans of the last
// requests for at most ShutdownTimeout, even once ctx is done.
func (t *Tracing) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	return t.Shutdown(ctx)
}

// Setup reads the standard variables through getenv and returns the
// tracing of the server called service:
//
//   - OTEL_TRACES_EXPORTER=none turns tracing off; otlp (or unset) exports
//     when an endpoint is set;
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a full URL) or
//     OTEL_EXPORTER_OTLP_ENDPOINT (a base URL, /v1/traces appended for
//     HTTP) name the collector;
//   - OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL:
//     http/protobuf (the default) or grpc;
//   - OTEL_SERVICE_NAME (default service) and OTEL_RESOURCE_ATTRIBUTES
//     describe the process.
//
// The exporter reads the other OTEL_EXPORTER_OTLP_* variables (headers,
// timeout, certificates, compression) from the environment itself.
func Setup(ctx context.Context, service string, getenv func(string) string) (*Tracing, error) {
	off := &Tracing{Provider: noop.NewTracerProvider()}
	switch e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e {
	case "none":
		return off, nil
	case "", "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", e)
	}
	endpoint, base := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	if endpoint == "" && base == "" {
		return off, nil
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		if endpoint == "" {
			endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	case "grpc":
		if endpoint == "" {
			endpoint = base
		}
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter for %s: %w", endpoint, err)
	}
	name := getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = service
	}
	// OTEL_RESOURCE_ATTRIBUTES comes from the process environment, as
	// the exporter's own variables do.
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(semconv.ServiceName(name)))
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, Exporting: true, shutdown: tp.Shutdown}, nil
}

// LogHandler adds trace_id and span_id to records logged with a context
// that carries a span, so logs and traces join up.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(as)}
}
func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.Handler.WithGroup(name)} }
