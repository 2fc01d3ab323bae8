package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DeleteImage implements pb.ProcessorServiceServer: the caller needs the
// upload scope and must own the image. Deleting a deleted image succeeds
// again with its tombstone, and finishes a delete that was cut short.
func (s *Service) DeleteImage(ctx context.Context, req *pb.DeleteImageRequest) (*pb.DeleteImageResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, apperr.InvalidField("id", "required")
	}
	rec, err := s.owned(ctx, p, req.GetId())
	if err != nil {
		return nil, err
	}
	// Once begun, finish even if the client leaves: nothing half-deleted
	// is left waiting for a retry that may never come.
	tomb, _, err := s.delete(context.WithoutCancel(ctx), rec)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.DeleteImageResponse{Image: tomb}, nil
}

// maxConcurrentDeletes bounds the images of one DeleteBatch deleted at once.
const maxConcurrentDeletes = 8

// maxBatchDeletes bounds the images one DeleteBatch call deletes (and the
// records it holds); the response says how many remain for the next call.
var maxBatchDeletes = 1000

// DeleteBatch implements pb.ProcessorServiceServer: every image of the
// caller's batch (the operator may name another tenant's), as DeleteImage.
// A batch without images is NOT_FOUND; one whose images were all deleted
// already answers no ids.
func (s *Service) DeleteBatch(ctx context.Context, req *pb.DeleteBatchRequest) (*pb.DeleteBatchResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return nil, err
	}
	batch := req.GetBatchId()
	if !jobs.ValidBatchID(batch) {
		return nil, apperr.InvalidField("batch_id", "must be 1..64 of [A-Za-z0-9_-]")
	}
	tenant, err := auth.TenantFor(p, req.GetTenant(), "tenant")
	if err != nil {
		return nil, err
	}
	recs, remaining, err := s.batchToDelete(ctx, tenant, batch)
	if err != nil {
		return nil, err
	}
	deleted, err := s.deleteRecords(ctx, recs)
	if err != nil {
		return nil, apperr.Unavailable(err) // a retry deletes the rest
	}
	resp := &pb.DeleteBatchResponse{Remaining: int32(remaining)}
	for i, rec := range recs {
		if deleted[i] {
			resp.ImageIds = append(resp.ImageIds, rec.Image.GetId())
		}
	}
	return resp, nil
}

// batchToDelete reads tenant's batch: the records of the (at most
// maxBatchDeletes) images this call deletes, and how many more remain;
// NotFound for a batch without images.
func (s *Service) batchToDelete(ctx context.Context, tenant, batch string) (recs []*records.Record, remaining int, err error) {
	total := 0
	err = records.EachInBatch(ctx, s.Records, tenant, batch, func(r *records.Record) {
		total++
		switch {
		case r.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED:
		case len(recs) < maxBatchDeletes:
			recs = append(recs, r)
		default:
			remaining++
		}
	})
	if err != nil {
		return nil, 0, apperr.Unavailable(err)
	}
	if total == 0 {
		return nil, 0, apperr.NotFound("batch", batch)
	}
	return recs, remaining, nil
}

// deleteRecords deletes the images of recs, maxConcurrentDeletes at once,
// and reports which of them this call deleted. Once the client leaves it
// begins no more, but finishes those begun.
func (s *Service) deleteRecords(ctx context.Context, recs []*records.Record) ([]bool, error) {
	deleted := make([]bool, len(recs))
	errs := make([]error, len(recs))
	sem := make(chan struct{}, maxConcurrentDeletes)
	var wg sync.WaitGroup
	for i, rec := range recs {
		if ctx.Err() != nil {
			errs[i] = ctx.Err() // the client left: those begun are finished
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, deleted[i], errs[i] = s.delete(context.WithoutCancel(ctx), rec)
		}()
	}
	wg.Wait()
	return deleted, errors.Join(errs...)
}

// delete deletes the image rec holds and returns its tombstone, and
// whether this call deleted it (false: it was deleted already). The steps
// are ordered so that nothing of the image is ever served once a step
// removed it, and so that a retry of the call finishes whatever stopped it:
//
//  1. its variants, what is served: the public and the private key of
//     every variant its spec names or its record lists (a record being
//     processed does not list them all yet);
//  2. the record becomes the tombstone (tombstone): a worker still
//     rendering it then finds it DELETED and removes what it stores;
//  3. the variants again, if a worker recorded some between 1 and 2;
//  4. its own original (jobs.OwnOriginalKeys: never the source's original
//     that a reprocessed image reads): private and never served, so it
//     goes last, and its keys follow from the id alone, so a retry that
//     finds only the tombstone still deletes it;
//  5. the tombstone is announced to the webhooks (image.deleted).
//
// An error before 2 leaves the record as it was, some variants gone (its
// URLs answer 404): the retry starts over. After 2, the retry finds the
// tombstone and redoes 4 and 5, which are idempotent.
func (s *Service) delete(ctx context.Context, rec *records.Record) (*pb.Image, bool, error) {
	id := rec.Image.GetId()
	tomb, now := rec.Image, false
	if tomb.GetState() != pb.ImageState_IMAGE_STATE_DELETED {
		if err := deleteAll(ctx, s.Variants, variantKeys(rec.Image)); err != nil {
			return nil, false, fmt.Errorf("delete the variants of %s: %w", id, err)
		}
		var prev *pb.Image
		deleteTime := timestamppb.Now()
		cur, err := records.Mutate(ctx, s.Records, id, func(img *pb.Image) error {
			if img.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
				return records.ErrNoChange // deleted meanwhile by another call
			}
			prev = proto.Clone(img).(*pb.Image)
			t := tombstone(img, deleteTime)
			proto.Reset(img)
			proto.Merge(img, t)
			return nil
		})
		switch {
		case errors.Is(err, records.ErrNoChange):
		case err != nil:
			return nil, false, fmt.Errorf("record the deletion of %s: %w", id, err)
		default:
			now = true
			if !proto.Equal(prev, rec.Image) {
				if err := deleteAll(ctx, s.Variants, variantKeys(prev)); err != nil {
					// Only what a worker stored meanwhile can be left, and
					// the tombstone no longer says which: log, go on.
					s.Log.Error("could not delete the variants of a deleted image", "image", id, "err", err)
				}
			}
		}
		tomb = cur.Image
	}
	if err := deleteAll(ctx, s.Originals, jobs.OwnOriginalKeys(id)); err != nil {
		return nil, false, fmt.Errorf("delete the original of %s: %w", id, err)
	}
	if err := events.Emit(ctx, s.Events, tomb); err != nil {
		return nil, false, err
	}
	return tomb, now, nil
}

// tombstone is what the record of a deleted image keeps: who owns it, where
// it was filed (batch, idempotency key, so the key stays taken), whom to
// tell, its visibility and times. Everything learnt from the image and
// every variant goes.
func tombstone(img *pb.Image, deleteTime *timestamppb.Timestamp) *pb.Image {
	return &pb.Image{
		Id:             img.GetId(),
		Tenant:         img.GetTenant(),
		BatchId:        img.GetBatchId(),
		BatchSize:      img.GetBatchSize(),
		IdempotencyKey: img.GetIdempotencyKey(),
		CallbackUrl:    img.GetCallbackUrl(),
		Visibility:     img.GetVisibility(),
		CreateTime:     img.GetCreateTime(),
		UpdateTime:     deleteTime,
		DeleteTime:     deleteTime,
		State:          pb.ImageState_IMAGE_STATE_DELETED,
	}
}

// variantKeys are every key a variant of img may be stored under: public
// and private, for every variant its spec names or its record lists.
func variantKeys(img *pb.Image) []string {
	seen := map[string]bool{}
	var keys []string
	add := func(name string) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		keys = append(keys, jobs.VariantKey(img.GetId(), name, false), jobs.VariantKey(img.GetId(), name, true))
	}
	for _, v := range img.GetSpec().GetVariants() {
		add(v.GetName())
	}
	for _, v := range img.GetVariants() {
		add(v.GetName())
	}
	return keys
}

// deleteAll deletes keys from store concurrently (each delete is a round
// trip to S3); deleting a missing key is no error.
func deleteAll(ctx context.Context, store blob.Store, keys []string) error {
	errs := make([]error, len(keys))
	sem := make(chan struct{}, maxConcurrentPuts)
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = store.Delete(ctx, key)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
