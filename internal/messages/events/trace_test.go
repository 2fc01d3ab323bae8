package events_test

import (
	"context"
	"path/filepath"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
	"go.opentelemetry.io/otel/trace"
)

// Both kinds of events message carry the trace context of the span that
// sent them, and the dispatcher's side reads it back as a remote span
// context; sent outside a span they carry no attributes.
func TestEventsCarryTraceContext(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("imagepipe=1")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled, TraceState: ts})
	inSpan := trace.ContextWithSpanContext(context.Background(), sc)
	ready := &pb.Image{Id: "i1", State: pb.ImageState_IMAGE_STATE_READY}
	tests := []struct {
		name   string
		ctx    context.Context
		send   func(ctx context.Context, q queue.Queue) error
		traced bool
	}{
		{"image event in a span", inSpan, func(ctx context.Context, q queue.Queue) error { return events.Emit(ctx, q, ready) }, true},
		{"delivery in a span", inSpan, func(ctx context.Context, q queue.Queue) error {
			return events.Send(ctx, q, events.Message{Delivery: "dlv_1"})
		}, true},
		{"image event outside a span", context.Background(), func(ctx context.Context, q queue.Queue) error { return events.Emit(ctx, q, ready) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := sqlitequeue.New(filepath.Join(t.TempDir(), "q.db"), sqlitequeue.Options{Name: "events"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			if err := tt.send(tt.ctx, q); err != nil {
				t.Fatal(err)
			}
			ms, err := q.Receive(t.Context(), queue.ReceiveOptions{MaxMessages: 10})
			if err != nil || len(ms) != 1 {
				t.Fatalf("Receive = %d messages, %v; want 1", len(ms), err)
			}
			got := trace.SpanContextFromContext(events.TraceContext(context.Background(), ms[0].Attributes))
			if !tt.traced {
				if len(ms[0].Attributes) != 0 || got.IsValid() {
					t.Fatalf("attributes %v (span context %v), want none", ms[0].Attributes, got)
				}
				return
			}
			if !got.IsRemote() || got.TraceID() != traceID || got.SpanID() != spanID || !got.IsSampled() || got.TraceState().Get("imagepipe") != "1" {
				t.Fatalf("attributes %v read back as %v, want a remote %v", ms[0].Attributes, got, sc)
			}
		})
	}
}
