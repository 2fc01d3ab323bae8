package processor_test

import (
	"context"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// recordSpans installs an in-memory exporter behind the global tracer
// provider for the test.
func recordSpans(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})
	return exp
}

// The trace of an upload continues through the queue into the processor:
// the job submitted in the upload's span is processed in a process span
// whose parent is that span (carried by the message's attributes), with
// children for the fetch, the decode, each variant's render and encode
// (in that order in time) and each variant's store write.
func TestSpansContinueTheUploadTrace(t *testing.T) {
	exp := recordSpans(t)
	r := newRig(t, nil)
	ctx, upload := otel.Tracer("test").Start(context.Background(), "upload")
	submitted := r.submitImageCtx(t, ctx, "dandelion.jpg", &pb.Image{})
	upload.End()
	r.process(t)
	if img := r.state(t, submitted.GetId()); img.GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Fatalf("image %s, want READY", img.GetState())
	}

	spans := exp.GetSpans()
	var process tracetest.SpanStub
	children := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		if s.Name == "process" {
			process = s
		}
	}
	up := upload.SpanContext()
	if process.Name == "" || process.SpanContext.TraceID() != up.TraceID() || process.Parent.SpanID() != up.SpanID() || !process.Parent.IsRemote() {
		t.Fatalf("process span %+v, want a child of the upload span %v through the queue", process.SpanContext, up)
	}
	if process.SpanKind != trace.SpanKindConsumer {
		t.Errorf("process span kind %v, want consumer", process.SpanKind)
	}
	for _, s := range spans {
		if s.Parent.SpanID() == process.SpanContext.SpanID() {
			children[s.Name] = append(children[s.Name], s)
		}
	}
	const variants = 3
	for name, n := range map[string]int{"fetch": 1, "decode": 1, "render": variants, "encode": variants, "store": variants} {
		if len(children[name]) != n {
			t.Errorf("%d %s spans under process, want %d", len(children[name]), name, n)
		}
	}
	if len(children["decode"]) == 1 {
		decoded := children["decode"][0].EndTime
		for _, render := range children["render"] {
			if render.StartTime.Before(decoded) {
				t.Errorf("render span from %v, before the decode ended (%v)", render.StartTime, decoded)
				continue
			}
			for _, enc := range children["encode"] {
				if attr(enc, "imagepipe.variant") == attr(render, "imagepipe.variant") && enc.StartTime.Before(render.EndTime) {
					t.Errorf("variant %s: encode from %v, before its render ended (%v)", attr(render, "imagepipe.variant"), enc.StartTime, render.EndTime)
				}
			}
		}
	}
	for _, s := range spans {
		if s.Name != "upload" && s.Name != "process" && (s.StartTime.Before(process.StartTime) || s.EndTime.After(process.EndTime)) {
			t.Errorf("%s span [%v, %v] outside the process span [%v, %v]", s.Name, s.StartTime, s.EndTime, process.StartTime, process.EndTime)
		}
	}
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}
