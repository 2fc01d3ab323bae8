package ingest

import (
	"context"
	"errors"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Direct-upload policy lifetimes: short by default, since a policy may be
// used again until it expires (the processor discards what comes after
// the first upload it admits).
const (
	defaultUploadTTL = 10 * time.Minute
	minUploadTTL     = time.Minute
	maxUploadTTL     = 24 * time.Hour
)

// uploadTypes are the content types a direct upload may declare.
var uploadTypes = map[string]sniff.Format{
	"image/jpeg": sniff.JPEG, "image/png": sniff.PNG, "image/webp": sniff.WebP, "image/gif": sniff.GIF,
	"image/tiff": sniff.TIFF, "image/avif": sniff.AVIF, "image/heif": sniff.HEIF, "image/heic": sniff.HEIF,
}

// CreateUploadURL implements pb.IngestServiceServer: the S3 → SQS →
// processor flow for clients that upload straight to the bucket. The
// answer is an S3 POST policy for the image's key under jobs.UploadPrefix:
// S3 itself refuses a file over Config.MaxBytes or with another
// Content-Type than the declared one.
func (s *Service) CreateUploadURL(ctx context.Context, req *pb.CreateUploadURLRequest) (*pb.CreateUploadURLResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return nil, err
	}
	signer, ok := s.Originals.(blob.PostSigner)
	if !ok {
		return nil, &apperr.Error{Code: codes.FailedPrecondition, Reason: "DIRECT_UPLOAD_UNAVAILABLE",
			Msg: "direct uploads need an S3 originals store; upload through POST /v1/images instead"}
	}
	format, ok := uploadTypes[req.GetContentType()]
	if !ok {
		return nil, apperr.InvalidField("content_type", "must be one of image/jpeg, image/png, image/webp, image/gif, image/tiff, image/avif, image/heif")
	}
	ttl, err := uploadTTL(req)
	if err != nil {
		return nil, err
	}
	c, err := s.check(ctx, p, "", uploadMetadata(req))
	if err != nil {
		return nil, err
	}
	rec, existing, err := s.createDirect(ctx, c, newDirectImage(req, c, format))
	if err != nil || existing != nil {
		return existing, err
	}
	return s.uploadPolicy(ctx, signer, rec.Image, ttl)
}

// uploadTTL is the policy lifetime the request asks for, or the default.
func uploadTTL(req *pb.CreateUploadURLRequest) (time.Duration, error) {
	ttl := defaultUploadTTL
	if e := req.GetExpiresIn(); e != nil {
		if ttl = e.AsDuration(); e.CheckValid() != nil || ttl < minUploadTTL || ttl > maxUploadTTL {
			return 0, apperr.InvalidField("expires_in", "must be between 1m and 24h")
		}
	}
	return ttl, nil
}

// uploadMetadata is the request seen as an upload's metadata, for s.check.
func uploadMetadata(req *pb.CreateUploadURLRequest) *pb.UploadMetadata {
	return &pb.UploadMetadata{FileName: req.GetFileName(), ContentType: req.GetContentType(),
		Preset: req.GetPreset(), Spec: req.GetSpec(), BatchId: req.GetBatchId(), IdempotencyKey: req.GetIdempotencyKey(),
		CallbackUrl: req.GetCallbackUrl(), BatchSize: req.GetBatchSize(), Visibility: req.GetVisibility()}
}

// newDirectImage is the record of an image awaiting its direct upload.
func newDirectImage(req *pb.CreateUploadURLRequest, c *checked, format sniff.Format) *pb.Image {
	now := timestamppb.Now()
	return &pb.Image{
		Id:             jobs.NewID(),
		Tenant:         c.tenant,
		Visibility:     c.visibility,
		BatchId:        req.GetBatchId(),
		IdempotencyKey: req.GetIdempotencyKey(),
		CallbackUrl:    req.GetCallbackUrl(),
		BatchSize:      req.GetBatchSize(),
		State:          pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD,
		Preset:         c.preset,
		Spec:           c.spec,
		Original: &pb.OriginalInfo{
			FileName:            req.GetFileName(),
			DeclaredContentType: req.GetContentType(),
			Format:              spec.SourceFormat(format),
			DirectUpload:        true,
		},
		CreateTime: now,
		UpdateTime: now,
	}
}

// createDirect stores img, or finds the image its idempotency key already
// names. A found image that no longer awaits a direct upload comes back
// as the whole answer, existing, with no URL that could overwrite its
// original.
func (s *Service) createDirect(ctx context.Context, c *checked, img *pb.Image) (rec *records.Record, existing *pb.CreateUploadURLResponse, err error) {
	rec, err = s.Records.Create(ctx, img)
	if errors.Is(err, records.ErrExists) {
		rec, err = s.Records.GetByIdempotencyKey(ctx, c.tenant, img.GetIdempotencyKey())
		if err == nil && rec.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
			return nil, nil, keyOfDeletedImage(c.field("idempotency_key"))
		}
		if err == nil && (!rec.Image.GetOriginal().GetDirectUpload() || rec.Image.GetState() != pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD) {
			return nil, &pb.CreateUploadURLResponse{Image: rec.Image}, nil
		}
	}
	if err != nil {
		return nil, nil, apperr.Unavailable(err)
	}
	return rec, nil, nil
}

// uploadPolicy answers with a POST policy for img's upload key.
func (s *Service) uploadPolicy(ctx context.Context, signer blob.PostSigner, img *pb.Image, ttl time.Duration) (*pb.CreateUploadURLResponse, error) {
	// The first image's declared type, not a repeat's.
	contentType := img.GetOriginal().GetDeclaredContentType()
	policy, err := signer.PresignPost(ctx, jobs.UploadPrefix+img.GetId(), contentType, s.cfg.MaxBytes, ttl)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.CreateUploadURLResponse{
		Image:      img,
		UploadUrl:  policy.URL,
		Method:     "POST",
		FormFields: policy.Fields,
		ExpireTime: timestamppb.New(time.Now().Add(ttl)),
	}, nil
}
