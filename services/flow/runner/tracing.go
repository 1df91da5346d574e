package runner

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/convoflow/convoflow/internal/telemetry"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// tracerName names the runner's spans' instrumentation scope.
const tracerName = "github.com/convoflow/convoflow/services/flow/runner"

// The trace of an event continues in the worker that processes it: the
// webhook's request span (which continues Twilio's or the caller's
// traceparent) is remembered for the event when this replica took the
// conversation's lease with the record, and becomes the parent of the
// event's processing span. An event another replica processes, or one
// processed after a restart, starts a trace of its own (the span context
// is not stored with the event).
func (r *Runner) rememberOrigin(ctx context.Context, eventID int64, leased bool) {
	if sc := trace.SpanContextFromContext(ctx); leased && sc.IsValid() {
		r.origins.Store(eventID, sc)
	}
}

// startEventSpan starts the span of processing event e.
func (r *Runner) startEventSpan(ctx context.Context, e store.Event) (context.Context, trace.Span) {
	if v, ok := r.origins.LoadAndDelete(e.ID); ok {
		ctx = trace.ContextWithRemoteSpanContext(ctx, v.(trace.SpanContext))
	}
	return r.tracer.Start(ctx, "flow.event", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("convoflow.flow_sid", e.FlowSID),
		attribute.String("convoflow.conversation_sid", e.ConversationSID),
		attribute.Int64("convoflow.event_id", e.ID),
	))
}

// endSpan records err on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceSteps adds each step of a committed result to the current span as
// an event, with the execution's SID, so that the trace shows the path an
// execution took and when.
func traceSteps(ctx context.Context, res *engine.Result) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("convoflow.execution_sid", res.Execution.Sid))
	for _, s := range res.Steps {
		span.AddEvent("step", trace.WithTimestamp(s.DateCreated), trace.WithAttributes(
			attribute.String("convoflow.step_sid", s.Sid),
			attribute.String("convoflow.widget", s.TransitionedFrom),
			attribute.String("convoflow.widget_type", s.Type),
			attribute.String("convoflow.transition", s.Name),
			attribute.String("convoflow.next", s.TransitionedTo),
			attribute.String("convoflow.step_number", strconv.Itoa(s.Number)),
		))
	}
	if res.Ended() {
		span.SetAttributes(attribute.String("convoflow.ended_reason", res.Execution.EndedReason))
	}
}

// tracerOf is the tracer of cfg's provider, or a no-op one.
func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(tracerName)
}

// tracedClient returns c with a transport that starts a client span per
// request and sends the W3C traceparent, so Functions, HTTP targets and
// ParticipantService continue the execution's trace.
func tracedClient(c *http.Client, tp trace.TracerProvider) *http.Client {
	if tp == nil {
		return c
	}
	cc := *c
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(telemetry.Propagator))
	return &cc
}
