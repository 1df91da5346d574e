package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/convoflow/convoflow/internal/telemetry"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestSetup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, getenv := range map[string]func(string) string{
		"no_endpoint": env(),
		"none":        env("OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
	} {
		tr, err := telemetry.Setup(ctx, "svc", getenv)
		if err != nil || tr.Exporting {
			t.Errorf("%s: Setup = %+v, %v; want tracing off", name, tr, err)
		}
	}
	for name, getenv := range map[string]func(string) string{
		"http":      env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
		"http_full": env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces"),
		"grpc":      env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
	} {
		tr, err := telemetry.Setup(ctx, "svc", getenv)
		if err != nil || !tr.Exporting {
			t.Errorf("%s: Setup = %+v, %v; want an exporter", name, tr, err)
			continue
		}
		// Nothing listens: shutting down must still return.
		sctx, cancel := context.WithTimeout(ctx, 0)
		_ = tr.Shutdown(sctx)
		cancel()
	}
	for name, tt := range map[string]struct {
		getenv func(string) string
		want   string
	}{
		"exporter": {env("OTEL_TRACES_EXPORTER", "zipkin"), "only otlp and none"},
		"protocol": {env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:1", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"), "want http/protobuf or grpc"},
	} {
		if _, err := telemetry.Setup(ctx, "svc", tt.getenv); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Setup = %v, want %q", name, err, tt.want)
		}
	}
}

func TestLogHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewTextHandler(&buf, nil))).With("svc", "x")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.InfoContext(ctx, "inside")
	span.End()
	log.Info("outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := "trace_id=" + span.SpanContext().TraceID().String() + " span_id=" + span.SpanContext().SpanID().String()
	if len(lines) != 2 || !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "svc=x") || strings.Contains(lines[1], "trace_id") {
		t.Errorf("log:\n%s\nwant the first line with %s, the second without", buf.String(), want)
	}
}
