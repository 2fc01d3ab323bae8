// Package status implements StatusService: reads, batch summaries, watch
// streams and signed URLs over the status store.
//
// Every method needs the read scope and sees only the caller's tenant
// (auth.Principal); the operator sees every tenant. Another tenant's image
// or batch, like a DELETED image, answers NOT_FOUND as a missing one does,
// so a caller learns nothing of what it may not see. Records are returned
// as stored: the response interceptor (urlsign) signs private images' URLs.
package status

import (
	"context"
	"errors"
	"slices"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var _ pb.StatusServiceServer = (*Service)(nil)

// Service implements pb.StatusServiceServer.
type Service struct {
	pb.UnimplementedStatusServiceServer
	cfg Config
	Deps
	watches *watchSlots
}

// Deps are what the status service works with; both are required.
type Deps struct {
	Records records.Store
	// Signer signs SignURL's URLs of private images: the signer the
	// gateway verifies them with.
	Signer *urlsign.Signer
}

// New returns the status service, or an error for a bad config or a
// missing dependency.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case d.Records == nil:
		return nil, errors.New("status: no status store")
	case d.Signer == nil:
		return nil, errors.New("status: no URL signer")
	}
	return &Service{cfg: cfg, Deps: d, watches: newWatchSlots(cfg.MaxWatchesPerTenant)}, nil
}

// get returns image id (given in field) if p may see it: a missing image,
// another tenant's and a DELETED one are all NotFound.
func (s *Service) get(ctx context.Context, p auth.Principal, field, id string) (*records.Record, error) {
	if id == "" {
		return nil, apperr.InvalidField(field, "required")
	}
	rec, err := s.Records.Get(ctx, id)
	if errors.Is(err, records.ErrNotFound) || err == nil && !visible(p, rec.Image) {
		return nil, apperr.NotFound("image", id)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return rec, nil
}

// visible reports whether p may read img: its tenant's (or p is the
// operator), and not DELETED.
func visible(p auth.Principal, img *pb.Image) bool {
	return p.Owns(records.Tenant(img)) && img.GetState() != pb.ImageState_IMAGE_STATE_DELETED
}

// batchTenant requires the read scope and resolves the tenant a batch
// request names (its tenant field).
func batchTenant(ctx context.Context, requested string) (string, error) {
	p, err := auth.Require(ctx, auth.ScopeRead)
	if err != nil {
		return "", err
	}
	return auth.TenantFor(p, requested, "tenant")
}

// GetImage implements pb.StatusServiceServer.
func (s *Service) GetImage(ctx context.Context, req *pb.GetImageRequest) (*pb.GetImageResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeRead)
	if err != nil {
		return nil, err
	}
	rec, err := s.get(ctx, p, "id", req.GetId())
	if err != nil {
		return nil, err
	}
	return &pb.GetImageResponse{Image: rec.Image}, nil
}

// ListImages implements pb.StatusServiceServer.
// A DELETED image is listed as its tombstone (state DELETED), as GetBatch
// counts it.
func (s *Service) ListImages(ctx context.Context, req *pb.ListImagesRequest) (*pb.ListImagesResponse, error) {
	tenant, err := batchTenant(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	if req.GetBatchId() == "" {
		return nil, apperr.InvalidField("batch_id", "required")
	}
	size := int(req.GetPageSize())
	if size < 0 || size > 1000 {
		return nil, apperr.InvalidField("page_size", "must be 0..1000, got %d", size)
	}
	page, err := s.Records.ListByBatch(ctx, tenant, req.GetBatchId(), size, req.GetPageToken())
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
	tenant, err := batchTenant(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, apperr.InvalidField("id", "required")
	}
	b, err := records.SummarizeBatch(ctx, s.Records, tenant, req.GetId(), s.cfg.MaxBatchImages)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	if b.Total == 0 {
		return nil, apperr.NotFound("batch", req.GetId())
	}
	return &pb.GetBatchResponse{Batch: b}, nil
}

// WatchImage implements pb.StatusServiceServer. An image that is DELETED
// while watched ends the stream with NOT_FOUND, as if it had never been
// there (its tombstone is not sent).
//
// Each watch holds one of the caller's tenant's Config.MaxWatchesPerTenant
// slots while it runs (RESOURCE_EXHAUSTED, TOO_MANY_WATCHES, when none is
// free) and ends after Config.MaxWatchDuration with DEADLINE_EXCEEDED,
// WATCH_EXPIRED; the client reconnects to continue. The same holds for
// WatchBatch.
func (s *Service) WatchImage(req *pb.WatchImageRequest, stream pb.StatusService_WatchImageServer) error {
	p, err := auth.Require(stream.Context(), auth.ScopeRead)
	if err != nil {
		return err
	}
	ctx, done, err := s.startWatch(stream.Context(), p.Tenant)
	if err != nil {
		return err
	}
	defer done()
	var last int64 // versions start at 1
	return s.poll(ctx, func() (bool, error) {
		rec, err := s.get(ctx, p, "id", req.GetId())
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
	tenant, err := batchTenant(stream.Context(), req.GetTenant())
	if err != nil {
		return err
	}
	id := req.GetId()
	if id == "" {
		return apperr.InvalidField("id", "required")
	}
	// The slot is the caller's tenant's, also when the operator watches
	// another tenant's batch.
	p, _ := auth.FromContext(stream.Context())
	ctx, done, err := s.startWatch(stream.Context(), p.Tenant)
	if err != nil {
		return err
	}
	defer done()
	w := newBatchWatch(tenant, id)
	first := true
	return s.poll(ctx, func() (bool, error) {
		recs, err := listBatch(ctx, s.Records, tenant, id)
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

// poll calls step at once and then every Config.PollInterval until step
// reports done or fails, or ctx (a watch's, from startWatch) ends. Polling
// works across processes and store drivers alike; the interval bounds how
// late a change is seen.
func (s *Service) poll(ctx context.Context, step func() (done bool, err error)) error {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		done, err := step()
		if err != nil && ctx.Err() != nil {
			// The client left or the watch expired; the store error is
			// its consequence.
			return s.watchEnded(ctx)
		}
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return s.watchEnded(ctx)
		case <-t.C:
		}
	}
}

// listBatch reads every record of tenant's batch, in id order.
func listBatch(ctx context.Context, rs records.Store, tenant, batchID string) ([]*records.Record, error) {
	var out []*records.Record
	if err := records.EachInBatch(ctx, rs, tenant, batchID, func(r *records.Record) { out = append(out, r) }); err != nil {
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

func newBatchWatch(tenant, id string) *batchWatch {
	return &batchWatch{
		batch:    &pb.Batch{Id: id, Tenant: tenant, Counts: map[string]int32{}},
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
	tenant, err := batchTenant(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	key := req.GetIdempotencyKey()
	if key == "" {
		return nil, apperr.InvalidField("idempotency_key", "required")
	}
	rec, err := s.Records.GetByIdempotencyKey(ctx, tenant, key)
	// Keys are scoped to their tenant; the tenant check only guards
	// against a driver that scoped one wrongly.
	if errors.Is(err, records.ErrNotFound) || err == nil &&
		(records.Tenant(rec.Image) != tenant || rec.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED) {
		return nil, apperr.NotFound("image with idempotency_key", key)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.LookupImageResponse{Image: rec.Image}, nil
}

// SignURL implements pb.StatusServiceServer: the image's variants (or the
// one named) with URLs signed until now + expires_in, when the image is
// private; a public image's variants are returned as stored, unsigned and
// without expiry. An image without variants yet (not READY) is
// FAILED_PRECONDITION.
func (s *Service) SignURL(ctx context.Context, req *pb.SignURLRequest) (*pb.SignURLResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeRead)
	if err != nil {
		return nil, err
	}
	ttl, err := s.expiresIn(req.GetExpiresIn())
	if err != nil {
		return nil, err
	}
	rec, err := s.get(ctx, p, "image_id", req.GetImageId())
	if err != nil {
		return nil, err
	}
	img := rec.Image
	variants := img.GetVariants()
	if name := req.GetVariant(); name != "" {
		i := slices.IndexFunc(variants, func(v *pb.VariantInfo) bool { return v.GetName() == name })
		if i < 0 {
			return nil, apperr.NotFound("variant", name)
		}
		variants = variants[i : i+1]
	} else if len(variants) == 0 {
		return nil, apperr.FailedPrecondition("image %s has no variants yet: it is %s", img.GetId(), img.GetState())
	}
	resp := &pb.SignURLResponse{Variants: make([]*pb.VariantInfo, 0, len(variants))}
	for _, v := range variants {
		resp.Variants = append(resp.Variants, proto.Clone(v).(*pb.VariantInfo))
	}
	if !jobs.Private(img) {
		return resp, nil
	}
	// Whole seconds, rounded up: the signed exp is a unix time, and
	// url_expire_time must say the same instant.
	exp := time.Now().Add(ttl + time.Second - 1).Truncate(time.Second)
	for _, v := range resp.Variants {
		s.Signer.SignVariant(img.GetId(), v, exp)
	}
	resp.ExpireTime = timestamppb.New(exp)
	return resp, nil
}

// expiresIn checks SignURL's expires_in: unset is the configured TTL.
func (s *Service) expiresIn(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return s.cfg.SignedURLTTL, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, apperr.InvalidField("expires_in", "not a valid duration")
	}
	ttl := d.AsDuration()
	if ttl < MinSignedURLTTL || ttl > MaxSignedURLTTL {
		return 0, apperr.InvalidField("expires_in", "must be 1s..168h (7 days), got %s", ttl)
	}
	return ttl, nil
}
