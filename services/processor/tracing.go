package processor

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer makes the processor's spans with the process's tracer provider
// (a no-op one unless tracing is configured). Each job delivery is a
// process span, a child of the span that queued the job (the upload's
// trace continues through the queue: jobs.TraceContext), with children:
// fetch, decode, render and encode per variant, store per variant write.
//
// The tracer is looked up at each use, not once: the process (or a test)
// installs its provider after this package is initialised.
func tracer() trace.Tracer { return otel.Tracer("imagepipe/processor") }

// startProcess starts the process span of a job delivery.
func startProcess(ctx context.Context, m queue.Message, job jobs.Job) (context.Context, trace.Span) {
	ctx = jobs.TraceContext(ctx, m.Attributes)
	return tracer().Start(ctx, "process", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.message.id", m.ID),
		attribute.String("imagepipe.image_id", job.ImageID),
		attribute.Int("imagepipe.attempt", m.ReceiveCount),
		attribute.Bool("imagepipe.direct_upload", job.Upload != nil),
	))
}

// withTrace adds the span's trace and span ids to log, when it is traced:
// the processor's log lines are written outside any request, so the ids
// go on the logger.
func withTrace(log *slog.Logger, span trace.Span) *slog.Logger {
	sc := span.SpanContext()
	if !sc.IsValid() {
		return log
	}
	return log.With("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
}

// endSpan ends span, marked failed with err's failure code (a permanent
// failure) or as an error.
func endSpan(span trace.Span, err error) {
	if err != nil {
		var perm *imaging.Error
		if errors.As(err, &perm) {
			span.SetAttributes(attribute.String("imagepipe.failure_code", perm.Code))
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, shortStatus(err))
	}
	span.End()
}

// shortStatus is a span status description: the error's code for a
// permanent failure, else its first 200 bytes.
func shortStatus(err error) string {
	var perm *imaging.Error
	if errors.As(err, &perm) {
		return perm.Code
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// recordRender adds, under ctx's span, the decode span and each variant's
// render and encode spans of a finished rendering. imaging runs them
// inside libvips (variants possibly at once) and reports when each began
// and how long it took, so the spans are made afterwards with those times.
func recordRender(ctx context.Context, res *imaging.Result) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	_, decode := tracer().Start(ctx, "decode", trace.WithTimestamp(res.Start), trace.WithAttributes(
		attribute.Int("imagepipe.width", res.Source.Width),
		attribute.Int("imagepipe.height", res.Source.Height),
		attribute.Int("imagepipe.frames", res.Source.Frames),
	))
	decode.End(trace.WithTimestamp(res.Start.Add(res.Decode)))
	for _, v := range res.Variants {
		attrs := trace.WithAttributes(attribute.String("imagepipe.variant", v.Name), attribute.String("imagepipe.format", string(v.Format)))
		rendered := v.Start.Add(v.Elapsed - v.Encode)
		_, render := tracer().Start(ctx, "render", trace.WithTimestamp(v.Start), attrs,
			trace.WithAttributes(attribute.String("imagepipe.size", strconv.Itoa(v.Width)+"x"+strconv.Itoa(v.Height))))
		render.End(trace.WithTimestamp(rendered))
		_, encode := tracer().Start(ctx, "encode", trace.WithTimestamp(rendered), attrs,
			trace.WithAttributes(attribute.Int("imagepipe.bytes", len(v.Data)), attribute.Int("imagepipe.quality", v.Quality)))
		encode.End(trace.WithTimestamp(v.Start.Add(v.Elapsed)))
	}
}
