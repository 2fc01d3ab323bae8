package jobs_test

import (
	"context"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// A job submitted inside a span carries that span's context in its
// message attributes, and the receiving side continues it: same trace,
// the submitting span as remote parent, tracestate kept.
func TestTraceContextThroughTheQueue(t *testing.T) {
	rs, q := stores(t)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	ts, err := trace.ParseTraceState("imagepipe=1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tp.Tracer("test").Start(t.Context(), "upload")
	ctx = trace.ContextWithSpanContext(ctx, span.SpanContext().WithTraceState(ts))
	defer span.End()
	img := &pb.Image{Id: jobs.NewID(), Original: &pb.OriginalInfo{FileName: "cat.jpg"}}
	if _, err := jobs.Submit(ctx, rs, q, img); err != nil {
		t.Fatal(err)
	}

	m := receiveJob(t, q)
	got := trace.SpanContextFromContext(jobs.TraceContext(context.Background(), m.Attributes))
	want := span.SpanContext()
	if !got.IsValid() || !got.IsRemote() || got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsSampled() {
		t.Errorf("continued span context = %v, want a remote %v", got, want)
	}
	if got.TraceState().Get("imagepipe") != "1" {
		t.Errorf("tracestate = %q, want imagepipe=1 kept", got.TraceState().String())
	}
}

// Outside a span (a job queued by a tool, a test) nothing is carried, and
// an attribute that is not a valid traceparent continues nothing.
func TestNoTraceContext(t *testing.T) {
	if attrs := jobs.TraceAttributes(context.Background()); len(attrs) != 0 {
		t.Errorf("TraceAttributes without a span = %v, want none", attrs)
	}
	for _, tp := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"} {
		ctx := jobs.TraceContext(context.Background(), map[string]string{"traceparent": tp})
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			t.Errorf("traceparent %q continued %v, want nothing", tp, sc)
		}
	}
}

func receiveJob(t *testing.T, q queue.Queue) queue.Message {
	t.Helper()
	msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Receive = %d messages, %v; want 1", len(msgs), err)
	}
	return msgs[0]
}
