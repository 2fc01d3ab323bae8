package records

import (
	"context"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
)

// SummarizeBatch reads every image of a batch and returns its summary:
// total, counts per state, expected size, state, and up to maxImages image
// lines (0: none). A batch with no images has Total 0; callers decide
// whether that is "not found".
func SummarizeBatch(ctx context.Context, s Store, tenant, batchID string, maxImages int) (*pb.Batch, error) {
	b := &pb.Batch{Id: batchID, Tenant: tenant, Counts: map[string]int32{}}
	if err := EachInBatch(ctx, s, tenant, batchID, func(r *Record) { AddToBatch(b, r.Image, maxImages) }); err != nil {
		return nil, err
	}
	b.State = BatchState(b)
	return b, nil
}

// EachInBatch calls fn with every record of tenant's batch, in id order,
// reading the batch a page of 1000 at a time.
func EachInBatch(ctx context.Context, s Store, tenant, batchID string, fn func(*Record)) error {
	token := ""
	for {
		page, err := s.ListByBatch(ctx, tenant, batchID, 1000, token)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			fn(r)
		}
		if token = page.NextPageToken; token == "" {
			return nil
		}
	}
}

// AddToBatch counts img into b (not its State: call BatchState after).
func AddToBatch(b *pb.Batch, img *pb.Image, maxImages int) {
	b.Total++
	b.Counts[img.GetState().String()]++
	b.Expected = max(b.Expected, img.GetBatchSize())
	if len(b.Images) < maxImages {
		b.Images = append(b.Images, &pb.BatchImage{
			Id: img.GetId(), State: img.GetState(), FileName: img.GetOriginal().GetFileName(), Error: img.GetError(),
		})
	}
}

// BatchState is PENDING while the batch holds fewer images than expected or
// some are not READY, FAILED or DELETED; then READY, FAILED or
// PARTIALLY_FAILED (deleted images count as neither).
func BatchState(b *pb.Batch) pb.BatchState {
	ready := b.Counts[pb.ImageState_IMAGE_STATE_READY.String()]
	failed := b.Counts[pb.ImageState_IMAGE_STATE_FAILED.String()]
	deleted := b.Counts[pb.ImageState_IMAGE_STATE_DELETED.String()]
	switch {
	case b.Total == 0 || ready+failed+deleted < b.Total || b.Total < b.Expected:
		return pb.BatchState_BATCH_STATE_PENDING
	case failed == 0:
		return pb.BatchState_BATCH_STATE_READY
	case ready == 0:
		return pb.BatchState_BATCH_STATE_FAILED
	default:
		return pb.BatchState_BATCH_STATE_PARTIALLY_FAILED
	}
}
