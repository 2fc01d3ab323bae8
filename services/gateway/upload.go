package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/services/ingest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// upload is POST /v1/images: a raw image body, or multipart/form-data with
// one or more "file" parts, each streamed into an IngestService.Upload.
//
// Query: preset, spec (JSON ProcessingSpec), wait (e.g. 5s, 500ms, or
// seconds), batch_id, batch_size (how many images the batch will hold),
// file_name, idempotency_key (or Idempotency-Key header), callback_url,
// visibility (public or private).
//
// The caller's Authorization header goes with every gRPC call it makes.
func (g *Gateway) upload(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	r = r.WithContext(outgoing(r))
	md, wait, err := g.uploadMetadata(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "multipart/form-data":
		g.uploadMultipart(w, r, md, wait)
	case uploadContentType(ct):
		md.ContentType = ct
		md.Wait = durationpb.New(wait)
		img, err := g.send(r.Context(), md, r.Body)
		g.answerDeadline(w, 0) // ingest waited for READY already
		if err != nil {
			writeError(w, err)
			return
		}
		g.writeImage(w, img)
	default:
		writeError(w, errUploadContentType)
	}
}

// uploadContentType reports whether a raw upload may have media type ct
// (no Content-Type at all included); multipart/form-data is the other
// upload.
func uploadContentType(ct string) bool {
	return ct == "" || ct == "application/octet-stream" || strings.HasPrefix(ct, "image/")
}

var errUploadContentType = &apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonUnsupportedFormat, Field: "Content-Type",
	Msg: "Content-Type must be image/*, application/octet-stream or multipart/form-data"}

func (g *Gateway) uploadMetadata(r *http.Request) (*pb.UploadMetadata, time.Duration, error) {
	q := r.URL.Query()
	md := &pb.UploadMetadata{
		Preset:         q.Get("preset"),
		BatchId:        q.Get("batch_id"),
		FileName:       q.Get("file_name"),
		IdempotencyKey: q.Get("idempotency_key"),
		CallbackUrl:    q.Get("callback_url"),
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		md.IdempotencyKey = k
	}
	if s := q.Get("spec"); s != "" {
		md.Spec = &pb.ProcessingSpec{}
		if err := protojson.Unmarshal([]byte(s), md.Spec); err != nil {
			return nil, 0, apperr.InvalidField("spec", "not a JSON ProcessingSpec: %v", err)
		}
	}
	if s := q.Get("batch_size"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, 0, apperr.InvalidField("batch_size", "must be an integer, got %q", s)
		}
		md.BatchSize = int32(n)
	}
	switch v := q.Get("visibility"); v {
	case "": // the service's default
	case "public":
		md.Visibility = pb.Visibility_VISIBILITY_PUBLIC
	case "private":
		md.Visibility = pb.Visibility_VISIBILITY_PRIVATE
	default:
		return nil, 0, apperr.InvalidField("visibility", "must be public or private, got %q", v)
	}
	wait := g.cfg.DefaultWait
	if s := q.Get("wait"); s != "" {
		d, err := parseWait(s)
		if err != nil || d < 0 || d > g.cfg.MaxWait {
			return nil, 0, apperr.InvalidField("wait", "must be a duration between 0s and %s, e.g. 5s or 500ms", g.cfg.MaxWait)
		}
		wait = d
	}
	return md, wait, nil
}

// parseWait accepts a Go duration ("5s", "1m") or a number of seconds.
func parseWait(s string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(secs * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// DefaultChunkSize is the default Config.ChunkSize: 1 MiB less room for
// the message's own framing. gRPC (un)marshals each message into a pooled
// buffer of the next power of two (of 256 B ... 32 KiB, then 1 MiB) that
// it clears whole first: a 64 KiB chunk cost clearing 1 MiB on each side.
// One MiB chunks also make few messages, each a handful of goroutine
// hand-offs, for a large upload.
const DefaultChunkSize = 1<<20 - 64

// chunkBufs are the buffers uploads are read into, reused: one per upload
// in flight.
var chunkBufs sync.Pool

func (g *Gateway) chunkBuf() *[]byte { return chunkBuf(g.cfg.ChunkSize) }

// chunkBuf is a pooled buffer of size bytes; give it back to chunkBufs.
func chunkBuf(size int) *[]byte {
	if b, ok := chunkBufs.Get().(*[]byte); ok && len(*b) == size {
		return b
	}
	b := make([]byte, size)
	return &b
}

// send streams one body through IngestService.Upload.
func (g *Gateway) send(ctx context.Context, md *pb.UploadMetadata, body io.Reader) (*pb.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Large chunks, which ingest reads without copying them twice.
	stream, err := g.ingest.Upload(ctx, grpc.CallContentSubtype(ingest.UploadSubtype))
	if err != nil {
		return nil, err
	}
	if err := awaitAdmission(stream, func() error { _, err := stream.CloseAndRecv(); return err }); err != nil {
		return nil, err
	}
	if err := stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Metadata{Metadata: md}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	pooled := g.chunkBuf()
	defer chunkBufs.Put(pooled)
	buf := *pooled
	var sent int64
	for {
		n, rerr := fill(body, buf)
		if n > 0 {
			// Send copies the message into its own buffer before returning.
			// A body that failed cancelled the request, so the stream: its own error (below) is the answer.
			if err := stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: buf[:n]}}); err != nil && (rerr == nil || errors.Is(rerr, io.EOF)) {
				break // the server ended the stream; CloseAndRecv says why
			}
			if sent += int64(n); sent > g.cfg.MaxUploadBytes {
				return g.overLimit(stream, cancel)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			// A body cut short (client gone, multipart part without its
			// boundary), too slow or over its cap is not an image: cancel,
			// so nothing is kept.
			cancel()
			return nil, bodyError(rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetImage(), nil
}

// overLimitWait bounds the wait for ingest's answer to an upload over
// the limit.
const overLimitWait = 10 * time.Second

// overLimit ends an upload that has sent more than MaxUploadBytes, the
// largest original ingest accepts: having received that much, ingest
// refuses it and removes what it wrote. Its answer is awaited (a bounded
// while) rather than the stream cancelled at once, so that nothing is
// left when the client hears 413. The stream is not half-closed: an
// ingest with a larger limit (a misconfiguration) must not store the cut
// body as a whole one; past the wait it is cancelled.
func (g *Gateway) overLimit(stream pb.IngestService_UploadClient, cancel context.CancelFunc) (*pb.Image, error) {
	type answer struct {
		resp *pb.UploadResponse
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		resp := &pb.UploadResponse{}
		ch <- answer{resp, stream.RecvMsg(resp)}
	}()
	t := time.NewTimer(overLimitWait)
	defer t.Stop()
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, a.err
		}
		// Answered without the body (an idempotent repeat).
		return a.resp.GetImage(), nil
	case <-t.C:
		cancel()
		return nil, tooLarge(g.cfg.MaxUploadBytes)
	}
}

// fill reads until buf is full or the body ends. Only io.EOF is a clean
// end: io.ReadFull would turn a truncated multipart part's
// io.ErrUnexpectedEOF into a short, seemingly complete read.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeImage answers a single upload: 200 with the record when it is READY
// or FAILED, else 202 with a Location to poll.
func (g *Gateway) writeImage(w http.ResponseWriter, img *pb.Image) {
	body, err := g.marshaler.Marshal(img)
	if err != nil {
		writeError(w, apperr.Internal(err))
		return
	}
	code := http.StatusOK
	if !records.Terminal(img.GetState()) {
		code = http.StatusAccepted
		w.Header().Set("Location", "/v1/images/"+img.GetId())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// BatchUpload is the 202 answer to a multipart upload of several files.
type BatchUpload struct {
	BatchID   string            `json:"batch_id"`
	StatusURL string            `json:"status_url"`
	Images    []json.RawMessage `json:"images"`
	// Files refused at upload, with why; the others are in images.
	Errors []FileError `json:"errors,omitempty"`
}

// FileError is a refused file of a batch upload.
type FileError struct {
	FileName string      `json:"file_name"`
	Error    ErrorDetail `json:"error"`
}

// multipartUpload is one multipart POST /v1/images: its parts are read in
// order, every "file" part is sent as one upload of the batch, and the
// answer lists what was accepted and what refused.
type multipartUpload struct {
	g    *Gateway
	r    *http.Request
	md   *pb.UploadMetadata // the query's metadata, with the batch id
	wait time.Duration

	parts  int // parts seen
	files  int // "file" parts seen
	images []*pb.Image
	failed []FileError
	first  error // the first refusal
	// stop is why the body was not read to its end: a limit passed, or a
	// body too slow or cut short. It is answered once, as the whole
	// request's error (with the images accepted before it, if any).
	stop error
}

func (g *Gateway) uploadMultipart(w http.ResponseWriter, r *http.Request, md *pb.UploadMetadata, wait time.Duration) {
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, apperr.InvalidField("Content-Type", "bad multipart request: %v", err))
		return
	}
	if md.BatchId == "" {
		md.BatchId = jobs.NewID()
	}
	u := &multipartUpload{g: g, r: r, md: md, wait: wait}
	u.readParts(mr)
	u.answer(w)
}

// readParts handles the parts until the body ends, a limit is passed or
// the body cannot be trusted.
func (u *multipartUpload) readParts(mr *multipart.Reader) {
	for u.stop == nil {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			u.stop = multipartError(err)
			return
		}
		if u.parts++; u.parts > u.g.cfg.MaxFiles+extraParts {
			u.stop = apperr.InvalidField("body", "at most %d parts per multipart body (%d files and %d others)",
				u.g.cfg.MaxFiles+extraParts, u.g.cfg.MaxFiles, extraParts)
			return
		}
		u.readPart(part)
	}
}

// multipartError is the answer to a multipart body that could not be
// read to its next part.
func multipartError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok || errors.Is(err, os.ErrDeadlineExceeded) {
		return bodyError(err)
	}
	return apperr.InvalidField("body", "malformed multipart body")
}

// readPart uploads a "file" part and refuses any other, after reading it
// (at most MaxFieldBytes).
func (u *multipartUpload) readPart(part *multipart.Part) {
	if part.FormName() == "file" {
		u.uploadPart(part)
		return
	}
	if !u.skipField(part) {
		return
	}
	switch part.FormName() {
	case "preset", "spec", "wait", "batch_id", "batch_size", "callback_url", "visibility":
		u.refuse("", apperr.InvalidField(part.FormName(), "give %s as a query parameter", part.FormName()))
	default:
		u.refuse("", apperr.InvalidField(part.FormName(), "unknown form field: send images as \"file\" parts"))
	}
}

// skipField reads a non-file part to its end, and reports whether it was
// within MaxFieldBytes; else the request stops there.
func (u *multipartUpload) skipField(part *multipart.Part) bool {
	n, err := io.CopyN(io.Discard, part, u.g.cfg.MaxFieldBytes+1)
	switch {
	case n > u.g.cfg.MaxFieldBytes:
		u.stop = &apperr.Error{Code: codes.ResourceExhausted, Reason: apperr.ReasonTooLarge, Field: part.FormName(),
			Msg: fmt.Sprintf("form field %q is over its limit of %d bytes", part.FormName(), u.g.cfg.MaxFieldBytes)}
	case err != nil && !errors.Is(err, io.EOF):
		u.stop = multipartError(err)
	}
	return u.stop == nil
}

// uploadPart sends a "file" part as one upload; past MaxFiles, or when
// the part's body was cut short, too slow or over the cap, the request
// stops there.
func (u *multipartUpload) uploadPart(part *multipart.Part) {
	if u.files++; u.files > u.g.cfg.MaxFiles {
		u.stop = apperr.InvalidField("file", "at most %d files per request", u.g.cfg.MaxFiles)
		return
	}
	m := u.partMetadata(part)
	img, err := u.g.send(u.r.Context(), m, part)
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Field == "body" {
			u.stop = err // the rest of the body cannot be trusted
			return
		}
		u.refuse(m.FileName, err)
		return
	}
	u.images = append(u.images, img)
}

// partMetadata is the query's metadata for the current "file" part: its
// file name and type, and the idempotency key suffixed with the part's
// number.
func (u *multipartUpload) partMetadata(part *multipart.Part) *pb.UploadMetadata {
	m := proto.Clone(u.md).(*pb.UploadMetadata)
	m.FileName = part.FileName()
	m.ContentType = part.Header.Get("Content-Type")
	if u.md.IdempotencyKey != "" {
		m.IdempotencyKey = fmt.Sprintf("%s/%d", u.md.IdempotencyKey, u.files)
	}
	return m
}

// refuse records a refused part, named by its file name if any.
func (u *multipartUpload) refuse(name string, err error) {
	if u.first == nil {
		u.first = err
	}
	u.failed = append(u.failed, FileError{FileName: name, Error: errorDetail(err)})
}

// answer writes the response: a single part is answered like a raw upload
// (its image, or its error), several with a BatchUpload.
func (u *multipartUpload) answer(w http.ResponseWriter) {
	wait := u.wait
	if u.stop != nil || len(u.images) != 1 || len(u.failed) != 0 {
		wait = 0
	}
	u.g.answerDeadline(w, wait)
	if u.stop != nil && len(u.images) > 0 {
		u.failed = append(u.failed, FileError{Error: errorDetail(u.stop)})
	}
	switch {
	case u.stop != nil && len(u.images) == 0:
		writeError(w, u.stop)
	case len(u.images) == 0 && len(u.failed) == 0:
		writeError(w, &apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonEmptyBody, Field: "file", Msg: "no \"file\" part in the multipart body"})
	case len(u.images) == 0 && len(u.failed) == 1:
		writeError(w, u.first)
	case len(u.images) == 1 && len(u.failed) == 0:
		u.g.writeImage(w, u.g.waitFor(u.r.Context(), u.images[0], u.wait))
	default:
		u.answerBatch(w)
	}
}

// answerBatch answers several parts: every accepted image is listed with
// the batch, and every refused part with its error. Nothing accepted: the
// first error's status; else 202.
func (u *multipartUpload) answerBatch(w http.ResponseWriter) {
	out := BatchUpload{BatchID: u.md.BatchId, StatusURL: "/v1/batches/" + u.md.BatchId, Errors: u.failed}
	for _, img := range u.images {
		b, err := u.g.marshaler.Marshal(img)
		if err != nil {
			writeError(w, apperr.Internal(err))
			return
		}
		out.Images = append(out.Images, b)
	}
	code := http.StatusAccepted
	if len(u.images) == 0 {
		code = u.failed[0].Error.Code
	} else {
		w.Header().Set("Location", out.StatusURL)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}

// waitFor watches an image until it is terminal or wait passes, and returns
// the latest record seen.
func (g *Gateway) waitFor(ctx context.Context, img *pb.Image, wait time.Duration) *pb.Image {
	if wait <= 0 || records.Terminal(img.GetState()) {
		return img
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	stream, err := g.status.WatchImage(ctx, &pb.WatchImageRequest{Id: img.GetId()})
	if err != nil {
		return img
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return img
		}
		img = resp.GetImage()
	}
}
