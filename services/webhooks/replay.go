package webhooks

import (
	"context"
	"fmt"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Replay sends a delivery again: it goes back to PENDING, due now, with a
// fresh round of MaxAttempts attempts (earlier attempts stay in its log)
// and its message goes onto the events queue. Replaying a PENDING delivery
// only queues another message; the dispatcher attempts it once.
func Replay(ctx context.Context, eventsQ queue.Queue, store deliveries.Store, id string) (*deliveries.Record, error) {
	rec, err := deliveries.Mutate(ctx, store, id, func(d *pb.WebhookDelivery) error {
		now := timestamppb.Now()
		if d.State != pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING {
			d.State = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING
			d.Replays++
			d.RoundAttempts = 0
		}
		d.NextAttemptTime, d.UpdateTime = now, now
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := events.Send(ctx, eventsQ, events.Message{Delivery: id}); err != nil {
		return nil, fmt.Errorf("webhooks: queue replay of %s: %w", id, err)
	}
	return rec, nil
}
