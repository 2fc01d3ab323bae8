package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Deps are what the ingest service works with.
type Deps struct {
	Originals blob.Store
	Queue     queue.Queue
	Records   records.Store
	Presets   *spec.Presets
	// Callbacks vets callback URLs; nil refuses them (webhooks off).
	Callbacks CallbackCheck
	Log       *slog.Logger
}

// Service implements pb.IngestServiceServer. Every call needs the upload
// scope; the image it makes belongs to the caller's tenant, whose batch
// ids and idempotency keys are its own.
type Service struct {
	pb.UnimplementedIngestServiceServer
	cfg Config
	Deps
}

// CallbackCheck vets a webhook callback URL: nil if it may be called, else
// an error whose text is safe to show the client (webhooks.Guard.CheckURL).
// A nil CallbackCheck means webhooks are off and callback URLs are refused.
type CallbackCheck func(ctx context.Context, rawURL string) error

// ReasonCallbackRefused: a callback URL that is malformed, unresolvable or
// points into a private network, or webhooks are not configured.
const ReasonCallbackRefused = "CALLBACK_URL_REFUSED"

// ErrNeedsSecret, from a CallbackCheck: the caller's tenant has no webhook
// signing secret, so its callbacks could not be signed.
var ErrNeedsSecret = errors.New("set a webhook signing secret first (AdminService.RotateWebhookSecret / imagepipe webhooks rotate-secret)")

// callbackRefused is the answer to a callback URL the check refused: a
// missing secret is a precondition, an *apperr.Error (the check could not
// run) stands, anything else is a bad URL.
func callbackRefused(field string, err error) error {
	var ae *apperr.Error
	switch {
	case errors.Is(err, ErrNeedsSecret):
		return &apperr.Error{Code: codes.FailedPrecondition, Reason: ReasonCallbackRefused, Field: field,
			Msg: field + ": " + ErrNeedsSecret.Error()}
	case errors.As(err, &ae):
		return ae
	}
	return &apperr.Error{Code: codes.InvalidArgument, Reason: ReasonCallbackRefused, Field: field, Msg: field + ": " + err.Error()}
}

// MaxBatchSize bounds metadata.batch_size.
const MaxBatchSize = 100000

// Limits of the free-text fields of upload metadata (and of
// CreateUploadURL's request), in bytes.
const (
	MaxFileNameBytes    = 255
	MaxContentTypeBytes = 255
	MaxCallbackURLBytes = 2048
	MaxPresetNameBytes  = 64
)

// presetNameRE is the form of a preset name a request may give: looser
// than the names presets are defined with (spec.ValidName), so an unknown
// name of that form is answered as unknown, but bounded before it is
// looked up or quoted in an error.
var presetNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validFileName reports whether s may be kept as a file name: at most
// MaxFileNameBytes of valid UTF-8 without control characters (NUL, line
// breaks, escapes: what would corrupt a log line or a header it is
// echoed in). Anything else is the client's business, path separators
// included: the name is only kept for reference.
func validFileName(s string) bool {
	return len(s) <= MaxFileNameBytes && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// validContentType reports whether s is a media type ("type/subtype",
// parameters allowed, as mime.ParseMediaType reads them) of at most
// MaxContentTypeBytes printable ASCII characters.
func validContentType(s string) bool {
	if len(s) > MaxContentTypeBytes || strings.ContainsFunc(s, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) {
		return false
	}
	mt, _, err := mime.ParseMediaType(s)
	return err == nil && strings.Contains(mt, "/")
}

// New returns the ingest service.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, Deps: d}, nil
}

func validKey(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// checked is a validated upload request.
type checked struct {
	md     *pb.UploadMetadata
	preset string
	spec   *pb.ProcessingSpec
	// tenant owns the new image: the caller's.
	tenant     string
	visibility pb.Visibility
	// prefix of the request's field names ("metadata" or "").
	prefix string
}

// field names a field of the request.
func (c *checked) field(name string) string { return fieldName(c.prefix, name) }

func fieldName(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// check validates upload metadata from caller p; errors name fields under
// prefix ("metadata" for Upload, "" for CreateUploadURL's flat request).
func (s *Service) check(ctx context.Context, p auth.Principal, prefix string, md *pb.UploadMetadata) (*checked, error) {
	field := func(name string) string { return fieldName(prefix, name) }
	if md == nil {
		return nil, apperr.InvalidField(prefix, "the first message must carry metadata")
	}
	if n := md.GetFileName(); len(n) > MaxFileNameBytes {
		return nil, apperr.InvalidField(field("file_name"), "at most %d bytes", MaxFileNameBytes)
	} else if !validFileName(n) {
		return nil, apperr.InvalidField(field("file_name"), "must be valid UTF-8 without control characters")
	}
	if ct := md.GetContentType(); ct != "" && !validContentType(ct) {
		return nil, apperr.InvalidField(field("content_type"), "must be a media type such as image/jpeg: at most %d printable ASCII characters", MaxContentTypeBytes)
	}
	if pr := md.GetPreset(); pr != "" && !presetNameRE.MatchString(pr) {
		return nil, apperr.InvalidField(field("preset"), "must be 1..%d of [A-Za-z0-9_-]", MaxPresetNameBytes)
	}
	if b := md.GetBatchId(); b != "" && !jobs.ValidBatchID(b) {
		return nil, apperr.InvalidField(field("batch_id"), "must be 1..64 of [A-Za-z0-9_-]")
	}
	if k := md.GetIdempotencyKey(); k != "" && !validKey(k) {
		return nil, apperr.InvalidField(field("idempotency_key"), "must be 1..128 printable ASCII characters")
	}
	if w := md.GetWait(); w != nil {
		if err := w.CheckValid(); err != nil || w.AsDuration() < 0 || w.AsDuration() > s.cfg.MaxWait {
			return nil, apperr.InvalidField(field("wait"), "must be between 0s and %s", s.cfg.MaxWait)
		}
	}
	if n := md.GetBatchSize(); n != 0 && (n < 0 || n > MaxBatchSize || md.GetBatchId() == "") {
		return nil, apperr.InvalidField(field("batch_size"), "must be 0..%d, and needs batch_id", MaxBatchSize)
	}
	if u := md.GetCallbackUrl(); u != "" {
		// Checked before the URL is parsed or resolved.
		if len(u) > MaxCallbackURLBytes {
			return nil, apperr.InvalidField(field("callback_url"), "at most %d bytes", MaxCallbackURLBytes)
		}
		if strings.ContainsFunc(u, unicode.IsControl) || !utf8.ValidString(u) {
			return nil, apperr.InvalidField(field("callback_url"), "must be valid UTF-8 without control characters")
		}
		if s.Callbacks == nil {
			return nil, &apperr.Error{Code: codes.FailedPrecondition, Reason: ReasonCallbackRefused, Field: field("callback_url"),
				Msg: field("callback_url") + ": webhooks are not configured on this server (no signing secret)"}
		}
		if err := s.Callbacks(ctx, u); err != nil {
			return nil, callbackRefused(field("callback_url"), err)
		}
	}
	visibility, err := checkVisibility(field("visibility"), md.GetVisibility())
	if err != nil {
		return nil, err
	}
	if md.GetSpec() != nil && s.cfg.PresetsOnly && !p.Has(auth.ScopeAdmin) {
		return nil, presetsOnly(field("spec"))
	}
	preset, sp, err := s.Presets.Resolve(prefix, md.GetPreset(), md.GetSpec())
	if err != nil {
		return nil, err
	}
	return &checked{md: md, preset: preset, spec: sp, tenant: p.Tenant, visibility: visibility, prefix: prefix}, nil
}

// checkVisibility returns the visibility to record: PRIVATE, or PUBLIC
// for PUBLIC and unspecified (recorded explicitly, so a record says what
// it is).
func checkVisibility(field string, v pb.Visibility) (pb.Visibility, error) {
	switch v {
	case pb.Visibility_VISIBILITY_UNSPECIFIED, pb.Visibility_VISIBILITY_PUBLIC:
		return pb.Visibility_VISIBILITY_PUBLIC, nil
	case pb.Visibility_VISIBILITY_PRIVATE:
		return pb.Visibility_VISIBILITY_PRIVATE, nil
	}
	return 0, apperr.InvalidField(field, "must be VISIBILITY_PUBLIC or VISIBILITY_PRIVATE")
}

// presetsOnly is the error for an inline spec from a caller without the
// admin scope when Config.PresetsOnly is set; field names the spec.
func presetsOnly(field string) error {
	return &apperr.Error{Code: codes.PermissionDenied, Reason: auth.ReasonPermissionDenied, Field: field,
		Msg: field + ": this server accepts only presets from callers without the admin scope; name a preset instead"}
}

// keyOfDeletedImage is the error for an idempotency key whose image was
// deleted: answering with the tombstone would report a failed upload as a
// success, and creating another image under the key is impossible.
func keyOfDeletedImage(field string) error {
	return &apperr.Error{Code: codes.FailedPrecondition, Reason: apperr.ReasonFailedPrecondition, Field: field,
		Msg: field + ": belongs to a deleted image; upload with a new key"}
}

// Upload implements pb.IngestServiceServer.
func (s *Service) Upload(stream pb.IngestService_UploadServer) error {
	ctx := stream.Context()
	p, err := auth.Require(ctx, auth.ScopeUpload)
	if err != nil {
		return err
	}
	body := newChunkReader(stream, s.cfg.IdleTimeout)
	defer body.stop()
	first, err := body.first()
	if errors.Is(err, io.EOF) {
		return apperr.InvalidField("metadata", "empty stream: the first message must carry metadata")
	}
	if err != nil {
		return err
	}
	req, err := s.check(ctx, p, "metadata", first.GetMetadata())
	if err != nil {
		return err
	}
	if key := req.md.GetIdempotencyKey(); key != "" {
		if rec, err := s.Records.GetByIdempotencyKey(ctx, req.tenant, key); err == nil {
			return s.answerExisting(stream, rec, req)
		} else if !errors.Is(err, records.ErrNotFound) {
			return apperr.Unavailable(err)
		}
	}
	img, err := s.store(ctx, body, req)
	if err != nil {
		return err
	}
	// The body is stored: finish the submission even if the client leaves.
	wctx := context.WithoutCancel(ctx)
	rec, err := jobs.Submit(wctx, s.Records, s.Queue, img)
	switch {
	case err == nil:
		return s.answer(stream, rec, req.md)
	case errors.Is(err, records.ErrExists):
		// Lost a race with a concurrent upload of the same idempotency key:
		// drop our copy, answer with theirs.
		s.dropOriginal(wctx, img.GetId())
		existing, gerr := s.Records.GetByIdempotencyKey(wctx, req.tenant, req.md.GetIdempotencyKey())
		if gerr != nil {
			return apperr.Unavailable(gerr)
		}
		return s.answerExisting(stream, existing, req)
	case errors.Is(err, jobs.ErrEnqueue):
		return apperr.Unavailable(err) // the record is FAILED, the original kept
	default:
		s.dropOriginal(wctx, img.GetId()) // no record: nothing may remain
		return apperr.Unavailable(err)
	}
}

func (s *Service) dropOriginal(ctx context.Context, id string) {
	if err := s.Originals.Delete(ctx, id); err != nil {
		s.Log.Error("could not delete an unrecorded original", "image", id, "err", err)
	}
}

// answerExisting answers a repeated upload with the first one's image,
// re-enqueueing it if the first upload died before its job was queued. A
// key whose image was deleted is refused.
func (s *Service) answerExisting(stream pb.IngestService_UploadServer, rec *records.Record, req *checked) error {
	ctx := stream.Context()
	switch rec.Image.GetState() {
	case pb.ImageState_IMAGE_STATE_DELETED:
		return keyOfDeletedImage(req.field("idempotency_key"))
	case pb.ImageState_IMAGE_STATE_RECEIVED:
		next, err := jobs.Enqueue(ctx, s.Records, s.Queue, rec.Image.GetId())
		if err != nil {
			return apperr.Unavailable(err)
		}
		rec = next
	}
	return s.answer(stream, rec, req.md)
}

// answer waits up to metadata.wait for a terminal state, then responds.
func (s *Service) answer(stream pb.IngestService_UploadServer, rec *records.Record, md *pb.UploadMetadata) error {
	if wait := md.GetWait().AsDuration(); wait > 0 && !records.Terminal(rec.Image.GetState()) {
		ctx, cancel := context.WithTimeout(stream.Context(), wait)
		latest, err := records.Watch(ctx, s.Records, rec.Image.GetId(), s.cfg.PollInterval, nil)
		cancel()
		if latest != nil {
			rec = latest
		}
		if err != nil && stream.Context().Err() != nil {
			return stream.Context().Err() // the client left
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			// The image is stored and queued: answer with what we know
			// rather than an error that would invite a duplicate upload.
			s.Log.Warn("waiting for the image failed", "image", rec.Image.GetId(), "err", err)
		}
	}
	return stream.SendAndClose(&pb.UploadResponse{Image: rec.Image})
}

var errTooLarge = errors.New("ingest: upload exceeds the size limit")

// store streams the body into the originals store and returns the new image
// record, not yet saved. On any error nothing is kept.
func (s *Service) store(ctx context.Context, body *chunkReader, req *checked) (*pb.Image, error) {
	head := make([]byte, sniff.HeaderLen)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	head = head[:n]
	if n == 0 {
		return nil, &apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonEmptyBody, Field: "chunk",
			Msg: "the upload is empty: send the image bytes after the metadata"}
	}
	sniffed := sniff.Detect(head)
	format := spec.SourceFormat(sniffed)
	if format == pb.Format_FORMAT_UNSPECIFIED {
		return nil, &apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonUnsupportedFormat, Field: "chunk",
			Msg: "the upload is not an image of an accepted format (JPEG, PNG, WebP, GIF, TIFF, HEIF, AVIF)"}
	}
	id := jobs.NewID()
	counted := &limitReader{r: io.MultiReader(bytes.NewReader(head), body), max: s.cfg.MaxBytes}
	attrs, err := s.Originals.Put(ctx, id, counted, blob.PutOptions{ContentType: sniffed.MIME()})
	switch {
	case errors.Is(err, errTooLarge):
		return nil, &apperr.Error{Code: codes.ResourceExhausted, Reason: apperr.ReasonTooLarge, Field: "chunk",
			Msg: fmt.Sprintf("the upload is larger than the %d-byte limit", s.cfg.MaxBytes)}
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case body.err != nil:
		return nil, body.err
	case err != nil:
		return nil, apperr.Unavailable(err)
	}
	now := timestamppb.Now()
	return &pb.Image{
		Id:             id,
		Tenant:         req.tenant,
		Visibility:     req.visibility,
		BatchId:        req.md.GetBatchId(),
		IdempotencyKey: req.md.GetIdempotencyKey(),
		CallbackUrl:    req.md.GetCallbackUrl(),
		BatchSize:      req.md.GetBatchSize(),
		Preset:         req.preset,
		Spec:           req.spec,
		Original: &pb.OriginalInfo{
			FileName:            req.md.GetFileName(),
			DeclaredContentType: req.md.GetContentType(),
			Format:              format,
			Bytes:               attrs.Size,
			Sha256:              attrs.ETag, // Put's ETag is the SHA-256 (blob.Store)
		},
		CreateTime: now,
		UpdateTime: now,
	}, nil
}

// ReasonUploadIdle: an upload stream sent no message for the idle timeout.
const ReasonUploadIdle = apperr.ReasonUploadIdle

// chunkReader reads the chunk messages of an upload stream as one body,
// failing when the client sends nothing for idle.
//
// After the first message a receiving goroutine (receive) reads the
// chunk messages ahead of Read, into one of recvAhead messages in turn,
// so that taking the next chunk off the stream overlaps the storing
// (hashing, writing) of the one before instead of following it. Each
// message's chunk buffer is reused (see UploadSubtype): an upload in
// flight holds recvAhead chunks.
type chunkReader struct {
	stream pb.IngestService_UploadServer
	idle   time.Duration
	timer  *time.Timer

	started bool
	free    chan *pb.UploadRequest // messages receive may fill
	full    chan received          // filled messages, in order
	done    chan struct{}          // closed by stop: receive ends

	cur *pb.UploadRequest // the message Read is taking from
	buf []byte            // what of cur's chunk is left
	end error             // how the stream ended (io.EOF, or its error)
	err error             // a protocol or idle error, reported as such
}

// recvAhead is how many chunk messages an upload holds: one being read
// from, the others being received.
const recvAhead = 2

// received is a message receive filled, or the error that ended it.
type received struct {
	msg *pb.UploadRequest
	err error
}

func newChunkReader(stream pb.IngestService_UploadServer, idle time.Duration) *chunkReader {
	t := time.NewTimer(idle)
	t.Stop()
	c := &chunkReader{stream: stream, idle: idle, timer: t,
		free: make(chan *pb.UploadRequest, recvAhead), full: make(chan received, recvAhead), done: make(chan struct{})}
	for range recvAhead {
		c.free <- &pb.UploadRequest{}
	}
	return c
}

// stop releases the timer and ends receive, at once if it waits for a
// message to fill, else when its RecvMsg returns (the handler's return
// ends the stream).
func (c *chunkReader) stop() {
	c.timer.Stop()
	close(c.done)
}

// recv receives the first message into msg, or fails with an apperr
// DEADLINE_EXCEEDED naming field if none comes within the idle timeout.
// After that error neither the stream nor msg may be read again: a
// receive is still in flight.
//
// Each receive runs in its own goroutine so that a stalled client cannot
// hold the handler (RecvMsg takes no deadline). After a timeout that
// goroutine ends when the handler does (the stream's context ends and
// RecvMsg returns); the channel's buffer lets it finish without a reader.
func (c *chunkReader) recv(field string, msg *pb.UploadRequest) error {
	ch := make(chan error, 1)
	go func() { ch <- c.stream.RecvMsg(msg) }()
	return c.await(field, ch)
}

// await waits for ch up to the idle timeout.
func (c *chunkReader) await(field string, ch <-chan error) error {
	c.timer.Reset(c.idle)
	defer c.timer.Stop()
	select {
	case err := <-ch:
		return err
	case <-c.timer.C:
		return c.idleError(field)
	}
}

func (c *chunkReader) idleError(field string) error {
	c.err = &apperr.Error{Code: codes.DeadlineExceeded, Reason: ReasonUploadIdle, Field: field,
		Msg: fmt.Sprintf("%s: no message for %s: the upload stopped sending", field, c.idle)}
	return c.err
}

// first receives the first message, which must carry the metadata.
func (c *chunkReader) first() (*pb.UploadRequest, error) {
	msg := &pb.UploadRequest{}
	return msg, c.recv("metadata", msg)
}

// receive fills free messages from the stream until RecvMsg fails (the
// stream's end included) or stop. full has room for every message, so
// it never waits to hand one over, and ends as soon as it may.
func (c *chunkReader) receive() {
	for {
		var msg *pb.UploadRequest
		select {
		case msg = <-c.free:
		case <-c.done:
			return
		}
		err := c.stream.RecvMsg(msg)
		c.full <- received{msg, err}
		if err != nil {
			return
		}
	}
}

// next waits up to the idle timeout for the next chunk message.
func (c *chunkReader) next() (*pb.UploadRequest, error) {
	if !c.started {
		c.started = true
		go c.receive()
	}
	c.timer.Reset(c.idle)
	defer c.timer.Stop()
	select {
	case r := <-c.full:
		return r.msg, r.err
	case <-c.timer.C:
		return nil, c.idleError("chunk")
	}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	switch {
	case c.err != nil:
		return 0, c.err
	case c.end != nil && len(c.buf) == 0:
		return 0, c.end
	}
	for len(c.buf) == 0 {
		if c.cur != nil {
			c.free <- c.cur // never waits: it has room for every message
			c.cur = nil
		}
		msg, err := c.next()
		if err != nil {
			if c.err == nil {
				c.end = err
			}
			return 0, err
		}
		if msg.GetMetadata() != nil {
			c.err = apperr.InvalidField("metadata", "only the first message may carry metadata")
			return 0, c.err
		}
		c.cur, c.buf = msg, msg.GetChunk()
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// limitReader fails once more than max bytes came.
type limitReader struct {
	r   io.Reader
	max int64
	n   int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return 0, errTooLarge
	}
	return n, err
}
