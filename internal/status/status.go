// Package status implements StatusService: reads, batch summaries and watch
// streams over the status store.
package status

import (
	"context"
	"errors"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/apperr"
	"github.com/imagepipe/imagepipe/internal/records"
)

// Config of the status service.
type Config struct {
	// PollInterval bounds how late a watch stream sees a change.
	PollInterval time.Duration
	// MaxBatchImages caps the images GetBatch summarises.
	MaxBatchImages int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{PollInterval: 100 * time.Millisecond, MaxBatchImages: 10000}
}

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
	page, err := s.records.ListByBatch(ctx, req.GetBatchId(), size, req.GetPageToken())
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
	b, err := records.SummarizeBatch(ctx, s.records, req.GetId(), s.cfg.MaxBatchImages)
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
	if _, err := s.get(stream.Context(), req.GetId()); err != nil {
		return err
	}
	_, err := records.Watch(stream.Context(), s.records, req.GetId(), s.cfg.PollInterval, func(r *records.Record) error {
		return stream.Send(&pb.WatchImageResponse{Image: r.Image})
	})
	if errors.Is(err, records.ErrNotFound) {
		return apperr.NotFound("image", req.GetId())
	}
	return err
}

// LookupImage implements pb.StatusServiceServer.
func (s *Service) LookupImage(ctx context.Context, req *pb.LookupImageRequest) (*pb.LookupImageResponse, error) {
	key := req.GetIdempotencyKey()
	if key == "" {
		return nil, apperr.InvalidField("idempotency_key", "required")
	}
	rec, err := s.records.GetByIdempotencyKey(ctx, key)
	if errors.Is(err, records.ErrNotFound) {
		return nil, apperr.NotFound("image with idempotency_key", key)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.LookupImageResponse{Image: rec.Image}, nil
}
