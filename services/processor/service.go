package processor

import (
	"context"
	"errors"
	"log/slog"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Service implements pb.ProcessorServiceServer. Every call needs a
// principal; a caller sees and acts on its own tenant's images only (the
// operator on every tenant's), and another tenant's are NOT_FOUND.
type Service struct {
	pb.UnimplementedProcessorServiceServer
	// presetsOnly: Config.PresetsOnly.
	presetsOnly bool
	// Deps: Presets, Records and Queue for every call; Originals, Variants
	// and Events to delete.
	Deps
}

// Service returns the ProcessorService on the processor's config and
// stores.
func (p *Processor) Service() *Service {
	d := p.Deps
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{presetsOnly: p.cfg.PresetsOnly, Deps: d}
}

// ListPresets implements pb.ProcessorServiceServer: any authenticated
// caller may list them.
func (s *Service) ListPresets(ctx context.Context, _ *pb.ListPresetsRequest) (*pb.ListPresetsResponse, error) {
	if _, err := auth.Authenticated(ctx); err != nil {
		return nil, err
	}
	return &pb.ListPresetsResponse{Presets: s.Presets.List()}, nil
}

// Reprocess implements pb.ProcessorServiceServer: a new image that shares
// the source's original, belongs to the source's tenant (in whose batch
// batch_id puts it) and has its visibility. The caller needs the upload
// scope and must own the source. A direct upload has an original to share
// once the processor admitted its upload.
func (s *Service) Reprocess(ctx context.Context, req *pb.ReprocessRequest) (*pb.ReprocessResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return nil, err
	}
	if req.GetImageId() == "" {
		return nil, apperr.InvalidField("image_id", "required")
	}
	if b := req.GetBatchId(); b != "" && !jobs.ValidBatchID(b) {
		return nil, apperr.InvalidField("batch_id", "must be 1..64 of [A-Za-z0-9_-]")
	}
	if req.GetSpec() != nil && s.presetsOnly && !p.Has(auth.ScopeAdmin) {
		return nil, presetsOnly("spec")
	}
	preset, sp, err := s.Presets.Resolve("", req.GetPreset(), req.GetSpec())
	if err != nil {
		return nil, err
	}
	src, err := s.owned(ctx, p, req.GetImageId())
	if err != nil {
		return nil, err
	}
	if src.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
		return nil, apperr.NotFound("image", req.GetImageId())
	}
	if jobs.Unadmitted(src.Image) {
		// It has no original yet: what is under uploads/ may still be
		// replaced or refused, and moves to the image's id when admitted.
		return nil, &apperr.Error{Code: codes.FailedPrecondition, Reason: apperr.ReasonFailedPrecondition, Field: "image_id",
			Msg: "image_id: the image has no original yet (its direct upload has not arrived, or was refused)"}
	}
	visibility := pb.Visibility_VISIBILITY_PUBLIC
	if jobs.Private(src.Image) {
		visibility = pb.Visibility_VISIBILITY_PRIVATE
	}
	now := timestamppb.Now()
	orig := proto.Clone(src.Image.GetOriginal()).(*pb.OriginalInfo)
	img := &pb.Image{
		Id:            jobs.NewID(),
		Tenant:        records.Tenant(src.Image),
		Visibility:    visibility,
		BatchId:       req.GetBatchId(),
		Preset:        preset,
		Spec:          sp,
		Original:      orig,
		SourceImageId: jobs.OriginalKey(src.Image),
		CreateTime:    now,
		UpdateTime:    now,
	}
	rec, err := jobs.Submit(context.WithoutCancel(ctx), s.Records, s.Queue, img)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.ReprocessResponse{Image: rec.Image}, nil
}

// owned reads image id for p: NOT_FOUND when it does not exist or belongs
// to a tenant p may not see (which must not learn that it exists).
func (s *Service) owned(ctx context.Context, p auth.Principal, id string) (*records.Record, error) {
	rec, err := s.Records.Get(ctx, id)
	switch {
	case errors.Is(err, records.ErrNotFound):
		return nil, apperr.NotFound("image", id)
	case err != nil:
		return nil, apperr.Unavailable(err)
	case !p.Owns(records.Tenant(rec.Image)):
		return nil, apperr.NotFound("image", id)
	}
	return rec, nil
}

// presetsOnly is the error for an inline spec from a caller without the
// admin scope when Config.PresetsOnly is set; field names the spec.
func presetsOnly(field string) error {
	return &apperr.Error{Code: codes.PermissionDenied, Reason: auth.ReasonPermissionDenied, Field: field,
		Msg: field + ": this server accepts only presets from callers without the admin scope; name a preset instead"}
}
