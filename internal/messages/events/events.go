// Package events is the message on the events queue: the processor says an
// image reached a terminal state (READY, FAILED, or DELETED); the webhook
// dispatcher turns that into deliveries, and schedules each delivery's
// attempts with messages of its own.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/trace"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// Message is the body of a message on the events queue. Exactly one field
// is set:
//   - Image: an image reached a terminal state (sent by the processor);
//     the dispatcher turns it into deliveries, one per endpoint, and
//     checks whether its batch completed.
//   - Delivery: attempt this delivery (sent by the dispatcher, and by a
//     replay).
type Message struct {
	Image    *ImageEvent `json:"image,omitempty"`
	Delivery string      `json:"delivery,omitempty"`
}

// ImageEvent names an image's terminal state. State and Retries make the
// event id: a retried image that ends again is a new event. A deletion is
// final and happens once: its Retries are 0 (the dispatcher ignores them
// for DELETED), so every message about one deletion names one event.
type ImageEvent struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Retries int32  `json:"retries"`
}

// Encode returns the message body.
func (m Message) Encode() []byte {
	b, _ := json.Marshal(m)
	return b
}

// Decode parses an events queue message body.
func Decode(body []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return Message{}, fmt.Errorf("events: bad event message: %w", err)
	}
	if (m.Image == nil) == (m.Delivery == "") {
		return Message{}, errors.New("events: event message must carry exactly one of image, delivery")
	}
	if m.Image != nil && m.Image.ID == "" {
		return Message{}, errors.New("events: image event without id")
	}
	return m, nil
}

// Emit tells the dispatcher that img is READY, FAILED or DELETED (any
// other state emits nothing). It is safe to call again for the same state
// (a redelivered job or a repeated delete does): deliveries are keyed by
// event, so a repeat sends nothing twice to an endpoint that already
// accepted it. A nil queue (no events queue) emits nothing.
func Emit(ctx context.Context, q queue.Queue, img *pb.Image) error {
	if q == nil || !records.Terminal(img.GetState()) {
		return nil
	}
	ev := &ImageEvent{ID: img.GetId(), State: img.GetState().String(), Retries: img.GetRetries()}
	if img.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
		ev.Retries = 0
	}
	if err := Send(ctx, q, Message{Image: ev}); err != nil {
		return fmt.Errorf("events: emit event for %s: %w", img.GetId(), err)
	}
	return nil
}

// Send queues m with the trace context of ctx in its attributes (W3C
// traceparent and tracestate, as job messages carry theirs), so what the
// dispatcher does about it links to the trace that caused it: an image
// event to the processing (or deletion) that ended the image, a delivery
// to the image event it came from or to the replay that asked for it.
// Without a span in ctx the message carries no attributes.
func Send(ctx context.Context, q queue.Queue, m Message) error {
	_, err := q.Send(ctx, m.Encode(), queue.SendOptions{Attributes: TraceAttributes(ctx)})
	return err
}

// TraceAttributes are the queue attributes that carry ctx's span
// context; empty when it has none.
func TraceAttributes(ctx context.Context) map[string]string {
	attrs := map[string]string{}
	trace.Inject(ctx, attrs)
	return attrs
}

// TraceContext returns ctx carrying, as a remote span context, the one in
// an events message's attributes; ctx unchanged when they hold none or an
// invalid one.
func TraceContext(ctx context.Context, attrs map[string]string) context.Context {
	return trace.Extract(ctx, attrs)
}
