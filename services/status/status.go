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
	"strings"
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

// ListImages implements pb.StatusServiceServer: the tenant's images
// newest first, of one batch and/or in one state (records.ListQuery). A
// DELETED image is listed, as its tombstone, only when asked for by its
// state. A page token continues only the request it came from: another
// tenant's, batch's or state's is INVALID_ARGUMENT naming page_token.
func (s *Service) ListImages(ctx context.Context, req *pb.ListImagesRequest) (*pb.ListImagesResponse, error) {
	tenant, err := batchTenant(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	q, err := listQuery(tenant, req)
	if err != nil {
		return nil, err
	}
	page, err := s.Records.ListImages(ctx, q)
	if errors.Is(err, records.ErrInvalidToken) {
		return nil, apperr.InvalidField("page_token", "not a token from a previous response to this request")
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

// listQuery validates a ListImages request of tenant's.
func listQuery(tenant string, req *pb.ListImagesRequest) (records.ListQuery, error) {
	size := int(req.GetPageSize())
	if size < 0 || size > records.MaxPageSize {
		return records.ListQuery{}, apperr.InvalidField("page_size", "must be 0..%d, got %d", records.MaxPageSize, size)
	}
	st := req.GetState()
	if _, known := pb.ImageState_name[int32(st)]; !known {
		return records.ListQuery{}, apperr.InvalidField("state", "unknown image state %d", int32(st))
	}
	if len(req.GetBatchId()) > maxBatchID {
		return records.ListQuery{}, apperr.InvalidField("batch_id", "longer than %d bytes", maxBatchID)
	}
	return records.ListQuery{Tenant: tenant, BatchID: req.GetBatchId(), State: st, PageSize: size, PageToken: req.GetPageToken()}, nil
}

// maxBatchID bounds a listed batch id; ingest accepts 64 bytes at most, so
// a longer one lists nothing anyway.
const maxBatchID = 256

// GetBatch implements pb.StatusServiceServer: the summary is the batch's
// counter (one read, whatever its size), the image lines the first
// Config.MaxBatchImages images in id order.
func (s *Service) GetBatch(ctx context.Context, req *pb.GetBatchRequest) (*pb.GetBatchResponse, error) {
	tenant, err := batchTenant(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, apperr.InvalidField("id", "required")
	}
	c, err := s.Records.GetBatch(ctx, tenant, req.GetId())
	if errors.Is(err, records.ErrNotFound) {
		return nil, apperr.NotFound("batch", req.GetId())
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	b := c.Summary()
	if err := s.addImageLines(ctx, b, tenant); err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.GetBatchResponse{Batch: b}, nil
}

// addImageLines lists up to Config.MaxBatchImages of b's images into it,
// in id order.
func (s *Service) addImageLines(ctx context.Context, b *pb.Batch, tenant string) error {
	token := ""
	for len(b.Images) < s.cfg.MaxBatchImages {
		page, err := s.Records.ListByBatch(ctx, tenant, b.GetId(), min(s.cfg.MaxBatchImages-len(b.Images), 1000), token)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			if len(b.Images) == s.cfg.MaxBatchImages {
				break
			}
			img := r.Image
			b.Images = append(b.Images, &pb.BatchImage{
				Id: img.GetId(), State: img.GetState(), FileName: img.GetOriginal().GetFileName(), Error: img.GetError(),
			})
		}
		if token = page.NextPageToken; token == "" {
			return nil
		}
	}
	return nil
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

// WatchBatch implements pb.StatusServiceServer. The watch reads the
// batch once when it starts, for each image's state; then each poll reads
// the batch's counter, and only when it moved the images written since
// (records.Store.BatchChanges): one read a poll while nothing changes,
// and reads that grow with the changes, not with the batch. Changes seen in
// one poll are sent in id order, each with the summary after it; the last
// one's summary is the counter's.
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
		c, err := s.Records.GetBatch(ctx, tenant, id)
		if errors.Is(err, records.ErrNotFound) {
			return false, apperr.NotFound("batch", id)
		}
		if err != nil {
			return false, apperr.Unavailable(err)
		}
		var msgs []*pb.WatchBatchResponse
		if first {
			first = false
			msgs, err = w.start(ctx, s.Records, c)
		} else {
			msgs, err = w.follow(ctx, s.Records, c)
		}
		if err != nil {
			return false, apperr.Unavailable(err)
		}
		for _, m := range msgs {
			if err := stream.Send(m); err != nil {
				return false, err
			}
		}
		return w.complete(), nil
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

// batchWatch keeps a batch's summary (images omitted) and each image's
// version and state as a watch sees them change.
type batchWatch struct {
	batch    *pb.Batch
	versions map[string]int64
	states   map[string]pb.ImageState
	// seq is the counter's seq the watch has seen the changes up to.
	seq int64
}

func newBatchWatch(tenant, id string) *batchWatch {
	return &batchWatch{
		batch:    &pb.Batch{Id: id, Tenant: tenant, Counts: map[string]int32{}},
		versions: map[string]int64{},
		states:   map[string]pb.ImageState{},
	}
}

// start reads the batch once, for each image's version and state, and
// returns the first message: the summary of what it read. The read comes
// after counter c's: images written since are read at their later version,
// counted, and not sent again when follow sees them in c's changes.
func (w *batchWatch) start(ctx context.Context, rs records.Store, c *records.BatchCounter) ([]*pb.WatchBatchResponse, error) {
	w.batch.Tenant = c.Tenant
	if err := records.EachInBatch(ctx, rs, c.Tenant, c.BatchID, func(r *records.Record) { w.apply(r) }); err != nil {
		return nil, err
	}
	w.seq = c.Seq
	return []*pb.WatchBatchResponse{{Batch: w.summary()}}, nil
}

// follow returns the messages of the changes since the last poll: none
// when counter c has not moved; else one per changed image, in id order,
// until one completes the batch. The summary is the watch's own, kept by
// apply from the first full read and every change since, so the stream
// ends only once the watch has sent the image that completed the batch:
// an image that BatchChanges left out (written again after c's number)
// comes with the next poll, under the counter's later number, instead of
// being skipped by a counter that already reads complete.
func (w *batchWatch) follow(ctx context.Context, rs records.Store, c *records.BatchCounter) ([]*pb.WatchBatchResponse, error) {
	if c.Seq == w.seq {
		return nil, nil
	}
	recs, err := changesSince(ctx, rs, c, w.seq)
	if err != nil {
		return nil, err
	}
	w.seq = c.Seq
	var msgs []*pb.WatchBatchResponse
	for _, r := range recs {
		if !w.apply(r) {
			continue
		}
		msgs = append(msgs, &pb.WatchBatchResponse{Batch: w.summary(), Image: r.Image})
		if w.complete() {
			return msgs, nil
		}
	}
	return msgs, nil
}

// changesSince reads the images of c's batch written after seq up to
// c.Seq, MaxBatchChanges numbers at a time, each once (at the latest
// version read), in id order.
func changesSince(ctx context.Context, rs records.Store, c *records.BatchCounter, seq int64) ([]*records.Record, error) {
	latest := map[string]*records.Record{}
	for after := seq; after < c.Seq; after = min(c.Seq, after+records.MaxBatchChanges) {
		recs, err := rs.BatchChanges(ctx, c.Tenant, c.BatchID, after, c.Seq)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if cur, ok := latest[r.Image.GetId()]; !ok || r.Version > cur.Version {
				latest[r.Image.GetId()] = r
			}
		}
	}
	out := make([]*records.Record, 0, len(latest))
	for _, r := range latest {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *records.Record) int { return strings.Compare(a.Image.GetId(), b.Image.GetId()) })
	return out, nil
}

// newer reports whether r is new or changed since the last time it was
// applied.
func (w *batchWatch) newer(r *records.Record) bool {
	v, seen := w.versions[r.Image.GetId()]
	return !seen || r.Version > v
}

// apply counts r into the summary and reports whether it is new or changed
// since the last time it was applied.
func (w *batchWatch) apply(r *records.Record) bool {
	if !w.newer(r) {
		return false
	}
	id := r.Image.GetId()
	_, seen := w.versions[id]
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
