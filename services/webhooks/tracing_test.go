package webhooks_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/testkit/spantest"
	"github.com/imagepipe/imagepipe/services/webhooks"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Each attempt of a delivery is a webhook.deliver client span, the root
// of a trace of its own linked to the span that emitted the image's
// event; a replay's attempt links to the replay's span. The spans say the
// event type, attempt, status code and outcome, and carry nothing of the
// URL but its host (the query holds the receiver's token).
func TestDeliveryAttemptsAreLinkedSpans(t *testing.T) {
	spans := spantest.Install(t)
	e := newEnv(t)
	rcv := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	const token = "tok3n-in-the-query"
	cfg := testConfig()
	cfg.MaxAttempts = 3
	e.start(t, cfg)
	tracer := otel.Tracer("test")

	img := &pb.Image{Id: "img-traced", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/hook?token=" + token)}
	img.CreateTime, img.UpdateTime = nowTS(), nowTS()
	if _, err := e.rs.Create(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	ctx, processing := tracer.Start(context.Background(), "process")
	if err := events.Emit(ctx, e.events, img); err != nil {
		t.Fatal(err)
	}
	processing.End()
	d := e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 1, delivered)[0]

	ctx, replay := tracer.Start(context.Background(), "replay")
	if _, err := webhooks.Replay(ctx, e.events, e.store, d.GetId()); err != nil {
		t.Fatal(err)
	}
	replay.End()
	waitFor(t, "the replay's attempt", func() bool { return len(deliverSpans(spans.GetSpans())) == 3 })
	e.waitQuiet(t)

	got := deliverSpans(spans.GetSpans())
	want := []struct {
		from    trace.SpanContext
		attempt int64
		status  int64
		outcome string
		failed  bool
	}{
		{processing.SpanContext(), 1, 500, "retried", true},
		{processing.SpanContext(), 2, 200, "delivered", false},
		{replay.SpanContext(), 1, 200, "delivered", false},
	}
	for i, w := range want {
		s := got[i]
		if s.SpanKind != trace.SpanKindClient || s.Parent.IsValid() {
			t.Errorf("attempt %d: kind %s, parent %v; want a client span, root of its trace", i, s.SpanKind, s.Parent)
		}
		if s.SpanContext.TraceID() == w.from.TraceID() {
			t.Errorf("attempt %d is in the trace it links to", i)
		}
		if len(s.Links) != 1 || s.Links[0].SpanContext.TraceID() != w.from.TraceID() || s.Links[0].SpanContext.SpanID() != w.from.SpanID() {
			t.Errorf("attempt %d links %v, want the span that sent its message %v", i, s.Links, w.from)
		}
		ints, strs := map[string]int64{}, map[string]string{}
		for _, kv := range s.Attributes {
			ints[string(kv.Key)], strs[string(kv.Key)] = kv.Value.AsInt64(), kv.Value.Emit()
			if strings.Contains(kv.Value.Emit(), token) {
				t.Errorf("attempt %d: attribute %s carries the URL's query: %s", i, kv.Key, kv.Value.Emit())
			}
		}
		if ints["imagepipe.webhook.attempt"] != w.attempt || ints["http.response.status_code"] != w.status ||
			strs["imagepipe.webhook.outcome"] != w.outcome || strs["imagepipe.webhook.event_type"] != webhooks.EventImageReady ||
			strs["server.address"] != "127.0.0.1" {
			t.Errorf("attempt %d: attributes %v, want attempt %d, status %d, outcome %s, event type %s, host 127.0.0.1",
				i, s.Attributes, w.attempt, w.status, w.outcome, webhooks.EventImageReady)
		}
		if (s.Status.Code == codes.Error) != w.failed {
			t.Errorf("attempt %d: status %v, want an error %v", i, s.Status, w.failed)
		}
	}
}

// deliverSpans are the webhook.deliver spans, in the order they started.
func deliverSpans(all tracetest.SpanStubs) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range all {
		if s.Name == "webhook.deliver" {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	return out
}

func nowTS() *timestamppb.Timestamp { return timestamppb.New(time.Now()) }
