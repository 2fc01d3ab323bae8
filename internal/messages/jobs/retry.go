package jobs

import (
	"context"
	"errors"
	"fmt"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// ErrNotFailed says Retry found the image neither FAILED nor RECEIVED.
var ErrNotFailed = errors.New("jobs: image is not FAILED")

// Retry sends a FAILED image back to processing with its original and
// spec: it moves the record FAILED -> RECEIVED (the one move backwards, by
// compare-and-swap, so two retries cannot both win) with its error,
// attempts and variants cleared and retries counted, then enqueues its job
// (RECEIVED -> QUEUED). An image found RECEIVED is only enqueued, which
// finishes a retry interrupted between the two steps; so does calling Retry
// again after an error. Any other state yields an error wrapping
// ErrNotFailed; a missing image records.ErrNotFound.
func Retry(ctx context.Context, rs records.Store, q queue.Queue, id string) (*records.Record, error) {
	_, err := records.Mutate(ctx, rs, id, func(img *pb.Image) error {
		switch img.GetState() {
		case pb.ImageState_IMAGE_STATE_RECEIVED:
			return records.ErrNoChange
		case pb.ImageState_IMAGE_STATE_FAILED:
			img.State = pb.ImageState_IMAGE_STATE_RECEIVED
			img.Error = nil
			img.Attempts = 0
			img.Variants = nil
			img.Retries++
			return nil
		}
		return fmt.Errorf("%w: image %s is %s", ErrNotFailed, id, img.GetState())
	})
	if err != nil && !errors.Is(err, records.ErrNoChange) {
		return nil, err
	}
	return Enqueue(ctx, rs, q, id)
}
