package admin

import (
	"context"
	"errors"
	"fmt"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// Reasons of a RetrySkip.
const (
	SkipNotFound  = "not_found"
	SkipNotFailed = "not_failed"
)

// RetryImages implements pb.AdminServiceServer. The batch is the tenant
// field's (the caller's own when empty); an image id of another tenant, or
// of a DELETED image, is skipped as not_found, like a missing one.
func (s *Service) RetryImages(ctx context.Context, req *pb.RetryImagesRequest) (*pb.RetryImagesResponse, error) {
	p, tenant, err := adminOf(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	ids, batch := req.GetImageIds(), req.GetBatchId()
	if err := checkRetrySelection(ids, batch); err != nil {
		return nil, err
	}
	if batch != "" {
		if ids, err = s.failedInBatch(ctx, tenant, batch); err != nil {
			return nil, err
		}
	}
	resp, err := s.retryAll(ctx, p, ids)
	if err != nil {
		return nil, err
	}
	s.Log.InfoContext(ctx, "images retried", "tenant", tenant, "batch", batch, "retried", len(resp.Images), "skipped", len(resp.Skipped), "by", caller(p))
	return resp, nil
}

// checkRetrySelection validates the images a retry names: ids or a batch.
func checkRetrySelection(ids []string, batch string) error {
	switch {
	case len(ids) > 0 && batch != "":
		return apperr.InvalidField("batch_id", "give image_ids or batch_id, not both")
	case len(ids) == 0 && batch == "":
		return apperr.InvalidField("image_ids", "required unless batch_id is given")
	case len(ids) > MaxPageSize:
		return apperr.InvalidField("image_ids", "at most %d ids", MaxPageSize)
	case batch != "" && !jobs.ValidBatchID(batch):
		return apperr.InvalidField("batch_id", "must be 1..64 of [A-Za-z0-9_-]")
	}
	for i, id := range ids {
		if !jobs.ValidID(id) {
			return apperr.InvalidField(fmt.Sprintf("image_ids[%d]", i), "not an image id")
		}
	}
	return nil
}

// retryAll retries each of ids once, in order, until the client goes away.
func (s *Service) retryAll(ctx context.Context, p auth.Principal, ids []string) (*pb.RetryImagesResponse, error) {
	resp := &pb.RetryImagesResponse{}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		// The client going away stops the loop between images, never
		// between an image's two steps.
		if err := ctx.Err(); err != nil {
			return nil, apperr.Unavailable(err)
		}
		if err := s.retryOne(ctx, p, id, resp); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// retryOne retries image id if p owns it, adding it to resp's images or
// skips.
func (s *Service) retryOne(ctx context.Context, p auth.Principal, id string, resp *pb.RetryImagesResponse) error {
	// A record's tenant never changes: checked before the retry is as
	// good as during.
	owned, err := s.owned(ctx, p, id)
	if err != nil {
		return err
	}
	if !owned {
		resp.Skipped = append(resp.Skipped, &pb.RetrySkip{ImageId: id, Reason: SkipNotFound})
		return nil
	}
	rec, err := jobs.Retry(context.WithoutCancel(ctx), s.Records, s.Jobs, id)
	switch {
	case err == nil:
		resp.Images = append(resp.Images, rec.Image)
	case errors.Is(err, records.ErrNotFound):
		resp.Skipped = append(resp.Skipped, &pb.RetrySkip{ImageId: id, Reason: SkipNotFound})
	case errors.Is(err, jobs.ErrNotFailed):
		resp.Skipped = append(resp.Skipped, &pb.RetrySkip{ImageId: id, Reason: SkipNotFailed})
	default:
		s.Log.ErrorContext(ctx, "retrying images failed", "image", id, "retried", len(resp.Images), "err", err)
		return apperr.Unavailable(err)
	}
	return nil
}

// owned reports whether image id exists, is not DELETED, and p owns it.
func (s *Service) owned(ctx context.Context, p auth.Principal, id string) (bool, error) {
	rec, err := s.Records.Get(ctx, id)
	switch {
	case errors.Is(err, records.ErrNotFound):
		return false, nil
	case err != nil:
		return false, apperr.Unavailable(err)
	}
	return p.Owns(records.Tenant(rec.Image)) && rec.Image.GetState() != pb.ImageState_IMAGE_STATE_DELETED, nil
}

// failedInBatch returns the ids of tenant's batch's FAILED images;
// NotFound for a batch without images.
func (s *Service) failedInBatch(ctx context.Context, tenant, batch string) ([]string, error) {
	var ids []string
	total := 0
	err := records.EachInBatch(ctx, s.Records, tenant, batch, func(r *records.Record) {
		total++
		if r.Image.GetState() == pb.ImageState_IMAGE_STATE_FAILED {
			ids = append(ids, r.Image.GetId())
		}
	})
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	if total == 0 {
		return nil, apperr.NotFound("batch", batch)
	}
	return ids, nil
}
