package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Resumable uploads (the tus protocol, which the gateway serves): the
// image id is allocated at creation and names a blob.Partial of the
// originals store at the original's own key, so finishing copies
// nothing. The partial keeps the upload's session (tenant, checked
// metadata, expiry) as its Info; it is dropped once the record exists.

// Reasons of resumable upload errors.
const (
	// ReasonOffsetMismatch: a write at another offset than the upload's
	// (tus: 409 Conflict).
	ReasonOffsetMismatch = "OFFSET_MISMATCH"
	// ReasonUploadComplete: a write to, or a termination of, a finished
	// upload.
	ReasonUploadComplete = "UPLOAD_COMPLETE"
	// ReasonUploadBusy: a termination of an upload while a write of it
	// is in flight (tus: 409 Conflict).
	ReasonUploadBusy = "UPLOAD_BUSY"
)

// session is what a resumable upload keeps with its partial.
type session struct {
	Tenant     string          `json:"tenant"`
	Metadata   json.RawMessage `json:"metadata"` // protojson of the UploadMetadata
	Preset     string          `json:"preset,omitempty"`
	Spec       json.RawMessage `json:"spec,omitempty"` // protojson of the resolved spec
	Visibility pb.Visibility   `json:"visibility"`
	Expires    time.Time       `json:"expires"`

	md *pb.UploadMetadata
	sp *pb.ProcessingSpec
}

func encodeSession(c *checked, expires time.Time) ([]byte, error) {
	md, err := protojson.Marshal(c.md)
	if err != nil {
		return nil, err
	}
	s := session{Tenant: c.tenant, Metadata: md, Preset: c.preset, Visibility: c.visibility, Expires: expires}
	if c.spec != nil {
		if s.Spec, err = protojson.Marshal(c.spec); err != nil {
			return nil, err
		}
	}
	return json.Marshal(s)
}

func decodeSession(b []byte) (*session, error) {
	var s session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	s.md = &pb.UploadMetadata{}
	if err := protojson.Unmarshal(s.Metadata, s.md); err != nil {
		return nil, err
	}
	if len(s.Spec) > 0 {
		s.sp = &pb.ProcessingSpec{}
		if err := protojson.Unmarshal(s.Spec, s.sp); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// partials is the originals store as a PartialStore, or the error that
// it is none.
func (s *Service) partials() (blob.PartialStore, error) {
	ps, ok := s.Originals.(blob.PartialStore)
	if !ok {
		return nil, apperr.FailedPrecondition("this server's originals store does not take resumable uploads")
	}
	return ps, nil
}

// CreateResumableUpload implements pb.IngestServiceServer.
func (s *Service) CreateResumableUpload(ctx context.Context, req *pb.CreateResumableUploadRequest) (*pb.CreateResumableUploadResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return nil, err
	}
	ps, err := s.partials()
	if err != nil {
		return nil, err
	}
	md := req.GetMetadata()
	if md == nil {
		md = &pb.UploadMetadata{}
	}
	if md.GetWait() != nil {
		return nil, apperr.InvalidField("metadata.wait", "not taken by resumable uploads: watch the image instead")
	}
	c, err := s.check(ctx, p, "metadata", md)
	if err != nil {
		return nil, err
	}
	if key := md.GetIdempotencyKey(); key != "" {
		if rec, err := s.Records.GetByIdempotencyKey(ctx, c.tenant, key); err == nil {
			if rec.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
				return nil, keyOfDeletedImage("metadata.idempotency_key")
			}
			n := rec.Image.GetOriginal().GetBytes()
			return &pb.CreateResumableUploadResponse{Upload: &pb.ResumableUpload{Id: rec.Image.GetId(), Size: n, Offset: n, Image: rec.Image}}, nil
		} else if !errors.Is(err, records.ErrNotFound) {
			return nil, apperr.Unavailable(err)
		}
	}
	if err := s.checkSize(req.GetSize()); err != nil {
		return nil, err
	}
	id := jobs.NewID()
	expires := time.Now().Add(s.cfg.ResumableExpiry).UTC()
	info, err := encodeSession(c, expires)
	if err != nil {
		return nil, apperr.Internal(err)
	}
	part, err := ps.CreatePartial(ctx, id, req.GetSize(), info, blob.PutOptions{ContentType: declaredImageType(md.GetContentType())})
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.CreateResumableUploadResponse{Upload: uploadOf(part, md, expires, nil)}, nil
}

// checkSize refuses a size outside 1..MaxBytes as Upload refuses the body.
func (s *Service) checkSize(n int64) error {
	switch {
	case n == 0:
		return &apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonEmptyBody, Field: "size",
			Msg: "size: the upload is empty: an image has at least one byte"}
	case n < 0:
		return apperr.InvalidField("size", "must not be negative")
	case n > s.cfg.MaxBytes:
		return &apperr.Error{Code: codes.ResourceExhausted, Reason: apperr.ReasonTooLarge, Field: "size",
			Msg: fmt.Sprintf("size: the upload is larger than the %d-byte limit", s.cfg.MaxBytes)}
	}
	return nil
}

// declaredImageType is the content type an S3 multipart upload is
// created with, before any byte is seen: the declared one when it is an
// accepted image type, else the default. Processing sniffs the bytes.
func declaredImageType(ct string) string {
	for _, f := range []sniff.Format{sniff.JPEG, sniff.PNG, sniff.WebP, sniff.GIF, sniff.TIFF, sniff.HEIF, sniff.AVIF} {
		if ct == f.MIME() {
			return ct
		}
	}
	return blob.DefaultContentType
}

func uploadOf(p blob.Partial, md *pb.UploadMetadata, expires time.Time, img *pb.Image) *pb.ResumableUpload {
	u := &pb.ResumableUpload{Id: p.Key, Size: p.Size, Offset: p.Offset, Metadata: md, Image: img}
	if img == nil {
		u.ExpireTime = timestamppb.New(expires)
	}
	return u
}

// GetResumableUpload implements pb.IngestServiceServer.
func (s *Service) GetResumableUpload(ctx context.Context, req *pb.GetResumableUploadRequest) (*pb.GetResumableUploadResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return nil, err
	}
	u, err := s.resumable(ctx, p, req.GetId())
	if err != nil {
		return nil, err
	}
	return &pb.GetResumableUploadResponse{Upload: u}, nil
}

// resumable returns the caller's upload id, finishing it if every byte
// came but its image is not recorded yet (a process died in between).
func (s *Service) resumable(ctx context.Context, p auth.Principal, id string) (*pb.ResumableUpload, error) {
	ps, err := s.partials()
	if err != nil {
		return nil, err
	}
	part, sess, err := s.loadPartial(ctx, ps, p, id)
	if errors.Is(err, blob.ErrNotFound) {
		return s.finishedUpload(ctx, p, id)
	}
	if err != nil {
		return nil, err
	}
	if part.Offset < part.Size {
		return uploadOf(part, sess.md, sess.Expires, nil), nil
	}
	img, err := s.finish(ctx, ps, part, sess)
	if err != nil {
		return nil, err
	}
	return uploadOf(part, sess.md, sess.Expires, img), nil
}

// notFound is the answer for an upload id that is not the caller's.
func notFound(id string) error { return apperr.NotFound("upload", id) }

// loadPartial returns the partial of id and its session if it belongs to
// p's tenant and has not expired; blob.ErrNotFound (unwrapped) if there is
// no partial.
func (s *Service) loadPartial(ctx context.Context, ps blob.PartialStore, p auth.Principal, id string) (blob.Partial, *session, error) {
	if !jobs.ValidID(id) {
		return blob.Partial{}, nil, notFound(id)
	}
	part, err := ps.StatPartial(ctx, id)
	if errors.Is(err, blob.ErrNotFound) {
		return part, nil, blob.ErrNotFound
	}
	if err != nil {
		return part, nil, apperr.Unavailable(err)
	}
	sess, err := decodeSession(part.Info)
	if err != nil {
		return part, nil, apperr.Internal(err)
	}
	if sess.Tenant != p.Tenant || (!part.Complete && time.Now().After(sess.Expires)) {
		return part, nil, notFound(id)
	}
	return part, sess, nil
}

// finishedUpload answers for an upload whose partial is gone: its image,
// if it is the caller's.
func (s *Service) finishedUpload(ctx context.Context, p auth.Principal, id string) (*pb.ResumableUpload, error) {
	rec, err := s.Records.Get(ctx, id)
	if errors.Is(err, records.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	img := rec.Image
	if img.GetTenant() != p.Tenant || img.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
		return nil, notFound(id)
	}
	n := img.GetOriginal().GetBytes()
	return &pb.ResumableUpload{Id: id, Size: n, Offset: n, Image: img}, nil
}

// finish makes a complete partial the image, exactly once: it completes
// the object, sniffs its first bytes, records the image and queues its
// job, then drops the partial. Run again (a retry, a HEAD, a process that
// died half-way) it returns the same image. A file that is not an
// accepted image is removed and refused as Upload refuses it.
func (s *Service) finish(ctx context.Context, ps blob.PartialStore, part blob.Partial, sess *session) (*pb.Image, error) {
	ctx = context.WithoutCancel(ctx) // the bytes are all here: finish even if the client leaves
	id := part.Key
	if rec, err := s.Records.Get(ctx, id); err == nil {
		s.dropPartial(ctx, ps, id)
		return rec.Image, nil
	} else if !errors.Is(err, records.ErrNotFound) {
		return nil, apperr.Unavailable(err)
	}
	attrs, err := ps.CompletePartial(ctx, id)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	format, err := s.sniffOriginal(ctx, id)
	if err != nil {
		if _, ok := apperr.As(err); ok {
			s.dropOriginal(ctx, id)
			s.dropPartial(ctx, ps, id)
		}
		return nil, err
	}
	now := timestamppb.Now()
	md := sess.md
	img := &pb.Image{
		Id: id, Tenant: sess.Tenant, Visibility: sess.Visibility, IdempotencyKey: md.GetIdempotencyKey(),
		BatchId: md.GetBatchId(), CallbackUrl: md.GetCallbackUrl(), BatchSize: md.GetBatchSize(),
		Preset: sess.Preset, Spec: sess.sp,
		Original: &pb.OriginalInfo{
			FileName: md.GetFileName(), DeclaredContentType: md.GetContentType(), Format: format,
			Bytes: attrs.Size, Sha256: attrs.ETag, // CompletePartial's ETag is the SHA-256
		},
		CreateTime: now, UpdateTime: now,
	}
	rec, err := jobs.Submit(ctx, s.Records, s.Queue, img)
	switch {
	case errors.Is(err, records.ErrExists): // a concurrent finish won, or another upload of the key
		if rec, err = s.existing(ctx, img); err != nil {
			return nil, err
		}
		if rec.Image.GetId() != id {
			s.dropOriginal(ctx, id)
		}
	case err != nil:
		return nil, apperr.Unavailable(err) // the partial stays: a retry finishes it
	}
	s.dropPartial(ctx, ps, id)
	return rec.Image, nil
}

// existing is the record that made Submit of img fail with ErrExists: the
// image itself (a concurrent finish), or the first image of its
// idempotency key.
func (s *Service) existing(ctx context.Context, img *pb.Image) (*records.Record, error) {
	rec, err := s.Records.Get(ctx, img.GetId())
	if errors.Is(err, records.ErrNotFound) && img.GetIdempotencyKey() != "" {
		rec, err = s.Records.GetByIdempotencyKey(ctx, img.GetTenant(), img.GetIdempotencyKey())
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return rec, nil
}

// sniffOriginal reads the first bytes of the stored original and returns
// its format, or the error Upload gives a file of no accepted format.
func (s *Service) sniffOriginal(ctx context.Context, id string) (pb.Format, error) {
	rc, _, err := s.Originals.GetRange(ctx, id, 0, sniff.HeaderLen)
	if err != nil {
		return 0, apperr.Unavailable(err)
	}
	head, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return 0, apperr.Unavailable(err)
	}
	sniffed := sniff.Detect(head)
	format := spec.SourceFormat(sniffed)
	if format == pb.Format_FORMAT_UNSPECIFIED {
		return 0, &apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonUnsupportedFormat, Field: "chunk",
			Msg: "the upload is not an image of an accepted format (JPEG, PNG, WebP, GIF, TIFF, HEIF, AVIF)"}
	}
	return format, nil
}

func (s *Service) dropPartial(ctx context.Context, ps blob.PartialStore, id string) {
	if err := ps.DeletePartial(ctx, id); err != nil {
		s.Log.Warn("could not delete a resumable upload's partial", "image", id, "err", err)
	}
}

// TerminateResumableUpload implements pb.IngestServiceServer.
func (s *Service) TerminateResumableUpload(ctx context.Context, req *pb.TerminateResumableUploadRequest) (*pb.TerminateResumableUploadResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return nil, err
	}
	ps, err := s.partials()
	if err != nil {
		return nil, err
	}
	id := req.GetId()
	part, _, err := s.loadPartial(ctx, ps, p, id)
	if errors.Is(err, blob.ErrNotFound) {
		if _, ferr := s.finishedUpload(ctx, p, id); ferr != nil {
			return nil, ferr
		}
		return nil, uploadComplete(id)
	}
	if err != nil {
		return nil, err
	}
	if part.Complete {
		return nil, uploadComplete(id)
	}
	switch err := ps.DeletePartial(ctx, id); {
	case errors.Is(err, blob.ErrOffsetMismatch):
		return nil, &apperr.Error{Code: codes.Aborted, Reason: ReasonUploadBusy, Field: "id",
			Msg: fmt.Sprintf("upload %q is being written: terminate it once that write has ended", id)}
	case err != nil:
		return nil, apperr.Unavailable(err)
	}
	return &pb.TerminateResumableUploadResponse{}, nil
}

func uploadComplete(id string) error {
	return &apperr.Error{Code: codes.FailedPrecondition, Reason: ReasonUploadComplete, Field: "id",
		Msg: fmt.Sprintf("upload %q is complete: it is an image now; delete the image instead", id)}
}

// WriteResumableUpload implements pb.IngestServiceServer. The chunk
// messages are read as Upload's are (chunkReader, the upload codec):
// WriteResumableUploadRequest.chunk has UploadRequest.chunk's field
// number, so a chunk message of either is the same bytes.
func (s *Service) WriteResumableUpload(stream pb.IngestService_WriteResumableUploadServer) error {
	ctx := stream.Context()
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return err
	}
	ps, err := s.partials()
	if err != nil {
		return err
	}
	start, err := s.writeStart(stream)
	if err != nil {
		return err
	}
	part, sess, err := s.loadPartial(ctx, ps, p, start.GetId())
	if errors.Is(err, blob.ErrNotFound) {
		if _, ferr := s.finishedUpload(ctx, p, start.GetId()); ferr != nil {
			return ferr
		}
		return uploadComplete(start.GetId())
	}
	if err != nil {
		return err
	}
	if part.Complete || start.GetOffset() != part.Offset {
		return offsetMismatch(start.GetOffset(), part.Offset)
	}
	body := newChunkReader(writeStream{stream}, s.cfg.IdleTimeout)
	defer body.stop()
	rest := part.Size - part.Offset
	counted := &limitReader{r: body, max: rest}
	n, werr := ps.WritePartial(ctx, part.Key, part.Offset, counted)
	part.Offset += n
	switch {
	case errors.Is(werr, errTooLarge) || counted.n > rest:
		return apperr.InvalidField("chunk", "more bytes than the upload's size (%d) leaves room for", part.Size)
	case errors.Is(werr, blob.ErrOffsetMismatch):
		return offsetMismatch(start.GetOffset(), -1)
	case body.err != nil:
		return body.err
	case werr != nil && ctx.Err() != nil:
		return ctx.Err() // what came is kept; the client asks for the offset
	case werr != nil:
		return apperr.Unavailable(werr)
	}
	var img *pb.Image
	if part.Offset == part.Size {
		if img, err = s.finish(ctx, ps, part, sess); err != nil {
			return err
		}
	}
	return stream.SendAndClose(&pb.WriteResumableUploadResponse{Upload: uploadOf(part, sess.md, sess.Expires, img)})
}

// writeStart receives the first message of a write, within the idle
// timeout.
func (s *Service) writeStart(stream pb.IngestService_WriteResumableUploadServer) (*pb.WriteResumableUploadStart, error) {
	ch := make(chan error, 1)
	msg := &pb.WriteResumableUploadRequest{}
	go func() { ch <- stream.RecvMsg(msg) }()
	t := time.NewTimer(s.cfg.IdleTimeout)
	defer t.Stop()
	select {
	case err := <-ch:
		if errors.Is(err, io.EOF) || (err == nil && msg.GetStart() == nil) {
			return nil, apperr.InvalidField("start", "the first message must name the upload and its offset")
		}
		return msg.GetStart(), err
	case <-t.C:
		return nil, &apperr.Error{Code: codes.DeadlineExceeded, Reason: ReasonUploadIdle, Field: "start",
			Msg: fmt.Sprintf("start: no message for %s: the upload stopped sending", s.cfg.IdleTimeout)}
	}
}

func offsetMismatch(got, want int64) error {
	msg := fmt.Sprintf("offset %d is not the upload's offset: ask for it and resume there", got)
	if want >= 0 {
		msg = fmt.Sprintf("offset %d is not the upload's offset %d: resume there", got, want)
	}
	return &apperr.Error{Code: codes.FailedPrecondition, Reason: ReasonOffsetMismatch, Field: "start.offset", Msg: msg}
}

// writeStream reads a WriteResumableUpload stream's chunk messages as
// an Upload stream's, for chunkReader.
type writeStream struct{ grpc.ServerStream }

func (w writeStream) Recv() (*pb.UploadRequest, error) {
	m := &pb.UploadRequest{}
	return m, w.RecvMsg(m)
}

func (w writeStream) SendAndClose(*pb.UploadResponse) error {
	return errors.New("ingest: a write answers with WriteResumableUploadResponse")
}
