package webhooks

import (
	"context"
	"log/slog"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer makes the dispatcher's spans with the process's tracer provider
// (a no-op one unless tracing is configured), looked up at each use: the
// process, or a test, installs its provider after this package is
// initialised.
func tracer() trace.Tracer { return otel.Tracer("imagepipe/webhooks") }

// startDeliver starts the span of one delivery attempt, webhook.deliver.
// It is the root of a trace of its own, linked to the trace context its
// message carried (events.TraceContext: the processing that ended the
// image, the deletion, or the replay that asked for it): attempts can
// come minutes or days after the upload, retried and replayed, and a
// link shows where one came from without stretching the upload's trace
// over all of them. Its attributes name the event and the receiver's
// host, never the URL (its query may hold the receiver's token).
func startDeliver(ctx context.Context, from trace.SpanContext, dl *pb.WebhookDelivery) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindClient)}
	if from.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: from}))
	}
	ctx, span := tracer().Start(ctx, "webhook.deliver", opts...)
	// Set after the start, and only on a recording span: untraced, an
	// attempt parses no URL and builds no attributes.
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("imagepipe.webhook.event_type", dl.GetEventType()),
			attribute.String("imagepipe.webhook.event_id", dl.GetEventId()),
			attribute.String("imagepipe.webhook.delivery_id", dl.GetId()),
			attribute.String("server.address", hostOf(dl.GetUrl())),
		)
	}
	return ctx, span
}

// endDeliver ends an attempt's span with what became of it: the
// attempt's number in its round (1 for the first), the receiver's status code (when it
// answered), the outcome (delivered, retried, failed; none when another
// worker had settled the delivery), and an error status for a failed
// attempt.
func endDeliver(span trace.Span, a *pb.WebhookAttempt, round int32, outcome string) {
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := []attribute.KeyValue{attribute.Int("imagepipe.webhook.attempt", int(round))}
	if a.GetStatusCode() != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", int(a.GetStatusCode())))
	}
	if outcome != "" {
		attrs = append(attrs, attribute.String("imagepipe.webhook.outcome", outcome))
	}
	span.SetAttributes(attrs...)
	if e := a.GetError(); e != "" {
		span.SetStatus(codes.Error, e)
	}
	span.End()
}

// withTrace adds the span's trace and span ids to log, when it is traced:
// the dispatcher logs outside any request, so the ids go on the logger.
func withTrace(log *slog.Logger, span trace.Span) *slog.Logger {
	sc := span.SpanContext()
	if !sc.IsValid() {
		return log
	}
	return log.With("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
}
