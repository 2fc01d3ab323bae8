// Package status implements StatusService: reads, batch summaries and watch
// streams over the status store.
package status

import (
	"context"
	"errors"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
)

// Service implements pb.StatusServiceServer.
type Service struct {
	pb.UnimplementedStatusServiceServer
	cfg     Config
	records records.Store
}

// New returns the status service.
func New(cfg Config, rs records.Store) *Service {
	return &Service{cfg: cfg, records: rs}
}

func (s *Service) get(ctx context.Context, id string) (*records.Record, error) {
	if id == "" {
		return nil, apperr.InvalidField("id", "required")
	}
	rec, err := s.records.Get(ctx, id)
	if errors.Is(err, records.ErrNotFound) {
		return nil, apperr.NotFound("image", id)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return rec, nil
}

// GetImage implements pb.StatusServiceServer.
func (s *Service) GetImage(ctx context.Context, req *pb.GetImageRequest) (*pb.GetImageResponse, error) {
	rec, err := s.get(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &pb.GetImageResponse{Image: rec.Image}, nil
}

// ListImages implements pb.StatusServiceServer.
func (s *Service) ListImages(ctx context.Context, req *pb.ListImagesRequest) (*pb.ListImagesResponse, error) {
	if req.GetBatchId() == "" {
		return nil, apperr.InvalidField("batch_id", "required")
	}
	size := int(req.GetPageSize())
	if size < 0 || size > 1000 {
		return nil, apperr.InvalidField("page_size", "must be 0..1000, got %d", size)
	}
	page, err := s.records.ListByBatch(ctx, records.DefaultTenant, req.GetBatchId(), size, req.GetPageToken())
	if errors.Is(err, records.ErrInvalidToken) {
		return nil, apperr.InvalidField("page_token", "not a token from a previous response")
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	resp := &pb.ListImagesResponse{NextPageToken: page.NextPageToken}
	for _, r := range page.Records {
		resp.Images = append(resp.Images, r.Image)
	}
	return resp, nil
}

// GetBatch implements pb.StatusServiceServer.
func (s *Service) GetBatch(ctx context.Context, req *pb.GetBatchRequest) (*pb.GetBatchResponse, error) {
	if req.GetId() == "" {
		return nil, apperr.InvalidField("id", "required")
	}
	b, err := records.SummarizeBatch(ctx, s.records, records.DefaultTenant, req.GetId(), s.cfg.MaxBatchImages)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	if b.Total == 0 {
		return nil, apperr.NotFound("batch", req.GetId())
	}
	return &pb.GetBatchResponse{Batch: b}, nil
}

// WatchImage implements pb.StatusServiceServer.
func (s *Service) WatchImage(req *pb.WatchImageRequest, stream pb.StatusService_WatchImageServer) error {
	ctx := stream.Context()
	var last int64 // versions start at 1
	return poll(ctx, s.cfg.PollInterval, func() (bool, error) {
		rec, err := s.get(ctx, req.GetId())
		if err != nil {
			return false, err
		}
		if rec.Version == last {
			return false, nil
		}
		last = rec.Version
		if err := stream.Send(&pb.WatchImageResponse{Image: rec.Image}); err != nil {
			return false, err
		}
		return records.Terminal(rec.Image.GetState()), nil
	})
}

// WatchBatch implements pb.StatusServiceServer.
func (s *Service) WatchBatch(req *pb.WatchBatchRequest, stream pb.StatusService_WatchBatchServer) error {
	id := req.GetId()
	if id == "" {
		return apperr.InvalidField("id", "required")
	}
	ctx := stream.Context()
	w := newBatchWatch(id)
	first := true
	return poll(ctx, s.cfg.PollInterval, func() (bool, error) {
		recs, err := listBatch(ctx, s.records, id)
		if err != nil {
			return false, err
		}
		if first {
			first = false
			if len(recs) == 0 {
				return false, apperr.NotFound("batch", id)
			}
			for _, r := range recs {
				w.apply(r)
			}
			if err := stream.Send(&pb.WatchBatchResponse{Batch: w.summary()}); err != nil {
				return false, err
			}
			return w.complete(), nil
		}
		for _, r := range recs { // in id order
			if !w.apply(r) {
				continue
			}
			if err := stream.Send(&pb.WatchBatchResponse{Batch: w.summary(), Image: r.Image}); err != nil {
				return false, err
			}
			if w.complete() {
				return true, nil
			}
		}
		return false, nil
	})
}

// poll calls step at once and then every interval until step reports done
// or fails, or ctx ends. Polling works across processes and store drivers
// alike; interval bounds how late a change is seen.
func poll(ctx context.Context, interval time.Duration, step func() (done bool, err error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := step()
		if err != nil && ctx.Err() != nil {
			return ctx.Err() // the client left; the store error is its consequence
		}
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// listBatch reads every record of a batch, in id order.
func listBatch(ctx context.Context, rs records.Store, batchID string) ([]*records.Record, error) {
	var out []*records.Record
	if err := records.EachInBatch(ctx, rs, records.DefaultTenant, batchID, func(r *records.Record) { out = append(out, r) }); err != nil {
		return nil, apperr.Unavailable(err)
	}
	return out, nil
}

// batchWatch keeps a batch's summary (images omitted) up to date as its
// records change, without re-reading the whole batch per change.
type batchWatch struct {
	batch    *pb.Batch
	versions map[string]int64
	states   map[string]pb.ImageState
}

func newBatchWatch(id string) *batchWatch {
	return &batchWatch{
		batch:    &pb.Batch{Id: id, Counts: map[string]int32{}},
		versions: map[string]int64{},
		states:   map[string]pb.ImageState{},
	}
}

// apply counts r into the summary and reports whether it is new or changed
// since the last time it was applied.
func (w *batchWatch) apply(r *records.Record) bool {
	id := r.Image.GetId()
	v, seen := w.versions[id]
	if seen && v == r.Version {
		return false
	}
	w.versions[id] = r.Version
	if seen {
		old := w.states[id].String()
		if w.batch.Counts[old]--; w.batch.Counts[old] <= 0 {
			delete(w.batch.Counts, old)
		}
		w.batch.Total--
	}
	w.states[id] = r.Image.GetState()
	records.AddToBatch(w.batch, r.Image, 0)
	w.batch.State = records.BatchState(w.batch)
	return true
}

// summary is a copy of the current summary, safe to send.
func (w *batchWatch) summary() *pb.Batch { return proto.Clone(w.batch).(*pb.Batch) }

// complete reports whether every image is READY or FAILED (and the batch
// holds as many images as it expects).
func (w *batchWatch) complete() bool {
	return w.batch.GetState() != pb.BatchState_BATCH_STATE_PENDING
}

// LookupImage implements pb.StatusServiceServer.
func (s *Service) LookupImage(ctx context.Context, req *pb.LookupImageRequest) (*pb.LookupImageResponse, error) {
	key := req.GetIdempotencyKey()
	if key == "" {
		return nil, apperr.InvalidField("idempotency_key", "required")
	}
	rec, err := s.records.GetByIdempotencyKey(ctx, records.DefaultTenant, key)
	if errors.Is(err, records.ErrNotFound) {
		return nil, apperr.NotFound("image with idempotency_key", key)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.LookupImageResponse{Image: rec.Image}, nil
}
