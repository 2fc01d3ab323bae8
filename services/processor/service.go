package processor

import (
	"context"
	"errors"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Service implements pb.ProcessorServiceServer.
type Service struct {
	pb.UnimplementedProcessorServiceServer
	presets *spec.Presets
	records records.Store
	queue   queue.Queue
}

// NewService returns the ProcessorService.
func NewService(presets *spec.Presets, rs records.Store, q queue.Queue) *Service {
	return &Service{presets: presets, records: rs, queue: q}
}

// ListPresets implements pb.ProcessorServiceServer.
func (s *Service) ListPresets(context.Context, *pb.ListPresetsRequest) (*pb.ListPresetsResponse, error) {
	return &pb.ListPresetsResponse{Presets: s.presets.List()}, nil
}

// Reprocess implements pb.ProcessorServiceServer: a new image that shares
// the source's original.
func (s *Service) Reprocess(ctx context.Context, req *pb.ReprocessRequest) (*pb.ReprocessResponse, error) {
	if req.GetImageId() == "" {
		return nil, apperr.InvalidField("image_id", "required")
	}
	if b := req.GetBatchId(); b != "" && !jobs.ValidBatchID(b) {
		return nil, apperr.InvalidField("batch_id", "must be 1..64 of [A-Za-z0-9_-]")
	}
	preset, sp, err := s.presets.Resolve("", req.GetPreset(), req.GetSpec())
	if err != nil {
		return nil, err
	}
	src, err := s.records.Get(ctx, req.GetImageId())
	if errors.Is(err, records.ErrNotFound) {
		return nil, apperr.NotFound("image", req.GetImageId())
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	now := timestamppb.Now()
	orig := proto.Clone(src.Image.GetOriginal()).(*pb.OriginalInfo)
	img := &pb.Image{
		Id:            jobs.NewID(),
		BatchId:       req.GetBatchId(),
		Preset:        preset,
		Spec:          sp,
		Original:      orig,
		SourceImageId: jobs.OriginalKey(src.Image),
		CreateTime:    now,
		UpdateTime:    now,
	}
	rec, err := jobs.Submit(context.WithoutCancel(ctx), s.records, s.queue, img)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.ReprocessResponse{Image: rec.Image}, nil
}
