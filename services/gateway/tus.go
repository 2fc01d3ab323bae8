package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/metrics"
	"github.com/imagepipe/imagepipe/internal/platform/trace"
	"github.com/imagepipe/imagepipe/services/ingest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Resumable uploads: the tus 1.0 protocol at tusPath, served by tusd's
// handler (github.com/tus/tusd/v2) with a DataStore that is a gRPC
// client of IngestService's resumable upload calls, so the gateway keeps
// nothing: any gateway process can take the next request of an upload,
// and ingest writes the bytes where the original will live. The caller's
// credential goes on with every call, so authentication, tenancy and the
// limits are the services', as for POST /v1/images.
const tusPath = "/v1/tus/"

// headerImageID carries the image id of a complete upload, in the answer
// of its last PATCH (or a POST that carried it all) and of a HEAD.
const headerImageID = "Imagepipe-Image-Id"

// tusHeaders are the request headers of the tus protocol, and
// tusExposed the response headers a page reads.
var (
	tusHeaders = []string{"Tus-Resumable", "Upload-Length", "Upload-Offset", "Upload-Metadata", "Upload-Defer-Length",
		"Upload-Concat", "X-HTTP-Method-Override", "X-Requested-With"}
	tusExposed = []string{"Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size", "Upload-Offset",
		"Upload-Length", "Upload-Metadata", "Upload-Expires", headerImageID}
)

func init() {
	// The CORS rules (cors.go) let pages speak tus too.
	corsMethods = append(corsMethods, http.MethodPatch)
	corsHeaders = append(corsHeaders, tusHeaders...)
	corsExposed = append(corsExposed, tusExposed...)
}

// newTus is the handler of tusPath.
func (g *Gateway) newTus(reg *prometheus.Registry) (http.Handler, error) {
	received := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "imagepipe_tus_received_bytes_total",
		Help: "Bytes the tus handler received in upload bodies (PATCH, and POST with an upload).",
	})
	if reg != nil {
		if err := reg.Register(received); err != nil {
			return nil, err
		}
	}
	store := &tusStore{ingest: g.ingest, chunk: g.cfg.ChunkSize, received: received}
	composer := handler.NewStoreComposer()
	composer.UseCore(store)
	composer.UseTerminater(store)
	h, err := handler.NewHandler(handler.Config{
		BasePath:             tusPath,
		StoreComposer:        composer,
		MaxSize:              g.cfg.MaxUploadBytes,
		DisableDownload:      true,
		DisableConcatenation: true,
		Cors:                 &handler.CorsConfig{Disable: true}, // cors.go's rules answer
		// tusd logs every request at info, with bodies: only its
		// warnings and errors are kept. It logs through x/exp/slog,
		// whose handlers are not log/slog's, so to stderr as JSON.
		Logger:         expslog.New(expslog.NewJSONHandler(os.Stderr, &expslog.HandlerOptions{Level: expslog.LevelWarn})),
		NetworkTimeout: g.cfg.ReadTimeout,
		// The Location of a new upload is absolute: behind a proxy that
		// ends TLS it must say https and the public host. The headers
		// only shape the URL answered to the client that sent them.
		RespectForwardedHeaders: true,
	})
	if err != nil {
		return nil, err
	}
	return http.StripPrefix(strings.TrimSuffix(tusPath, "/"), h), nil
}

// withTus sends the requests under tusPath to tus, the rest to next.
func withTus(tus http.Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, tusPath) && r.URL.Path != strings.TrimSuffix(tusPath, "/") {
			next.ServeHTTP(w, r)
			return
		}
		route := tusPath
		if r.URL.Path != tusPath && r.URL.Path != strings.TrimSuffix(tusPath, "/") {
			route = tusPath + "{id}"
		}
		metrics.SetRoute(r.Context(), route)
		trace.Rename(r.Context(), r.Method, route)
		n := &tusNote{}
		ctx := context.WithValue(outgoing(r), tusNoteKey{}, n)
		tw := &tusWriter{ResponseWriter: w, note: n, method: r.Method}
		tus.ServeHTTP(tw, r.WithContext(ctx))
		tw.finish()
	})
}

// tusNote is what the store learnt of the request's upload, for the
// headers tusd does not write: the image id of a complete upload, the
// expiry of an unfinished one.
type tusNote struct {
	mu      sync.Mutex
	imageID string
	expires time.Time
}

type tusNoteKey struct{}

func note(ctx context.Context, u *pb.ResumableUpload) {
	n, _ := ctx.Value(tusNoteKey{}).(*tusNote)
	if n == nil || u == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if u.GetImage() != nil {
		n.imageID = u.GetImage().GetId()
	}
	if t := u.GetExpireTime(); t != nil {
		n.expires = t.AsTime()
	}
}

// tusWriter adds the noted headers to a successful answer.
// A plain-text error answer of tusd's own is held back and rewritten as
// JSON (tuserrors.go) once tusd is done (finish).
type tusWriter struct {
	http.ResponseWriter
	note   *tusNote
	method string
	wrote  bool
	plain  *plainErrorBuffer
}

func (t *tusWriter) WriteHeader(code int) {
	if t.wrote {
		return
	}
	t.wrote = true
	if code >= 400 && !strings.HasPrefix(t.Header().Get("Content-Type"), "application/json") {
		t.plain = &plainErrorBuffer{code: code}
		return
	}
	t.addHeaders(code)
	t.ResponseWriter.WriteHeader(code)
}

func (t *tusWriter) Write(p []byte) (int, error) {
	if !t.wrote {
		t.WriteHeader(http.StatusOK)
	}
	if t.plain != nil {
		t.plain.write(p)
		return len(p), nil
	}
	return t.ResponseWriter.Write(p)
}

// finish sends a held-back error answer.
func (t *tusWriter) finish() {
	if t.plain != nil {
		t.plain.send(t.ResponseWriter)
	}
}

func (t *tusWriter) addHeaders(code int) {
	h := t.Header()
	if t.method == http.MethodOptions {
		h.Set("Tus-Extension", h.Get("Tus-Extension")+",expiration")
	}
	if code >= 300 {
		return
	}
	t.note.mu.Lock()
	defer t.note.mu.Unlock()
	switch {
	case t.note.imageID != "":
		h.Set(headerImageID, t.note.imageID)
	case !t.note.expires.IsZero():
		h.Set("Upload-Expires", t.note.expires.UTC().Format(http.TimeFormat))
	}
}

// Unwrap is for http.ResponseController (tusd sets deadlines).
func (t *tusWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// tusStore is tusd's DataStore over IngestService.
type tusStore struct {
	ingest   pb.IngestServiceClient
	chunk    int
	received prometheus.Counter
}

var (
	_ handler.DataStore           = (*tusStore)(nil)
	_ handler.TerminaterDataStore = (*tusStore)(nil)
)

// NewUpload implements handler.DataStore.
func (s *tusStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	if info.SizeIsDeferred {
		return nil, tusError(status.Error(codes.InvalidArgument, ""), "Upload-Length is required")
	}
	md, err := tusMetadata(info.MetaData)
	if err != nil {
		return nil, err
	}
	resp, err := s.ingest.CreateResumableUpload(ctx, &pb.CreateResumableUploadRequest{Metadata: md, Size: info.Size})
	if err != nil {
		return nil, tusError(err, "")
	}
	note(ctx, resp.GetUpload())
	return &tusUpload{store: s, up: resp.GetUpload(), meta: info.MetaData}, nil
}

// GetUpload implements handler.DataStore.
func (s *tusStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	resp, err := s.ingest.GetResumableUpload(ctx, &pb.GetResumableUploadRequest{Id: id})
	if err != nil {
		return nil, tusError(err, "")
	}
	note(ctx, resp.GetUpload())
	return &tusUpload{store: s, up: resp.GetUpload()}, nil
}

// AsTerminatableUpload implements handler.TerminaterDataStore.
func (s *tusStore) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*tusUpload)
}

// tusUpload is one upload as ingest last described it.
type tusUpload struct {
	store *tusStore
	up    *pb.ResumableUpload
	meta  handler.MetaData
}

// GetInfo implements handler.Upload.
func (u *tusUpload) GetInfo(context.Context) (handler.FileInfo, error) {
	meta := u.meta
	if meta == nil {
		meta = tusMetadataOf(u.up.GetMetadata())
	}
	return handler.FileInfo{ID: u.up.GetId(), Size: u.up.GetSize(), Offset: u.up.GetOffset(), MetaData: meta}, nil
}

// WriteChunk implements handler.Upload: it streams src to ingest in
// chunks (the upload codec, as POST /v1/images) and returns how many
// bytes ingest kept. A body cut short ends the stream cleanly, so what
// came is kept and the client resumes after it.
func (u *tusUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := u.store.ingest.WriteResumableUpload(ctx, grpc.CallContentSubtype(ingest.UploadSubtype))
	if err != nil {
		return 0, tusError(err, "")
	}
	if err := awaitAdmission(stream, func() error { _, err := stream.CloseAndRecv(); return err }); err != nil {
		return 0, tusError(err, "")
	}
	start := &pb.WriteResumableUploadRequest{Payload: &pb.WriteResumableUploadRequest_Start{
		Start: &pb.WriteResumableUploadStart{Id: u.up.GetId(), Offset: offset}}}
	if err := stream.Send(start); err != nil && !errors.Is(err, io.EOF) {
		return 0, tusError(err, "")
	}
	pooled := chunkBuf(u.store.chunk)
	defer chunkBufs.Put(pooled)
	buf := *pooled
	var bodyErr error
	for {
		n, rerr := fill(src, buf)
		if n > 0 {
			u.store.received.Add(float64(n))
			if err := stream.Send(&pb.WriteResumableUploadRequest{Payload: &pb.WriteResumableUploadRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				break // ingest ended the stream; CloseAndRecv says why
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				bodyErr = rerr
			}
			break
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return 0, tusError(err, "")
	}
	note(ctx, resp.GetUpload())
	n := resp.GetUpload().GetOffset() - offset
	u.up = resp.GetUpload()
	return n, bodyErr
}

// GetReader implements handler.Upload: originals are never served.
func (u *tusUpload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// FinishUpload implements handler.Upload: ingest finished the upload in
// the write that completed it.
func (u *tusUpload) FinishUpload(context.Context) error { return nil }

// Terminate implements handler.TerminatableUpload.
func (u *tusUpload) Terminate(ctx context.Context) error {
	if _, err := u.store.ingest.TerminateResumableUpload(ctx, &pb.TerminateResumableUploadRequest{Id: u.up.GetId()}); err != nil {
		return tusError(err, "")
	}
	return nil
}

// tusMetadata reads the Upload-Metadata keys imagepipe takes: filename,
// filetype, preset, batch_id, batch_size, visibility (public|private);
// others are ignored.
func tusMetadata(m handler.MetaData) (*pb.UploadMetadata, error) {
	md := &pb.UploadMetadata{FileName: m["filename"], ContentType: m["filetype"], Preset: m["preset"], BatchId: m["batch_id"]}
	if v := m["batch_size"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, tusError(status.Error(codes.InvalidArgument, ""), "batch_size: must be a whole number")
		}
		md.BatchSize = int32(n)
	}
	switch v := m["visibility"]; v {
	case "", "public":
	case "private":
		md.Visibility = pb.Visibility_VISIBILITY_PRIVATE
	default:
		return nil, tusError(status.Error(codes.InvalidArgument, ""), "visibility: must be public or private")
	}
	return md, nil
}

// tusMetadataOf gives the upload's metadata back in tus keys.
func tusMetadataOf(md *pb.UploadMetadata) handler.MetaData {
	m := handler.MetaData{}
	for k, v := range map[string]string{"filename": md.GetFileName(), "filetype": md.GetContentType(),
		"preset": md.GetPreset(), "batch_id": md.GetBatchId()} {
		if v != "" {
			m[k] = v
		}
	}
	if n := md.GetBatchSize(); n != 0 {
		m["batch_size"] = strconv.Itoa(int(n))
	}
	if md.GetVisibility() == pb.Visibility_VISIBILITY_PRIVATE {
		m["visibility"] = "private"
	}
	return m
}

// tusErrorBody is the JSON of a tus error answer: code (the HTTP status),
// message, and details naming the reason and the field; "error" is the
// same as the REST routes' error object.
type tusErrorBody struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Details []tusErrorDetail `json:"details,omitempty"`
	Error   ErrorDetail      `json:"error"`
}

type tusErrorDetail struct {
	Reason string `json:"reason,omitempty"`
	Field  string `json:"field,omitempty"`
}

// tusError makes err (a gRPC status) tusd's error answer, with msg as the
// message if given. Only imagepipe's own messages reach the client
// (errorDetail); the fields are named as a tus client knows them.
func tusError(err error, msg string) error {
	d := errorDetail(err)
	if msg != "" {
		d.Message = msg
		d.Code = http.StatusBadRequest
	}
	d.Field = tusField(status.Convert(err))
	switch d.Reason {
	case ingest.ReasonOffsetMismatch, ingest.ReasonUploadComplete, ingest.ReasonUploadBusy:
		d.Code = http.StatusConflict
	}
	body := tusErrorBody{Code: d.Code, Message: d.Message, Error: d}
	if d.Reason != "" || d.Field != "" {
		body.Details = []tusErrorDetail{{Reason: d.Reason, Field: d.Field}}
	}
	b, _ := json.Marshal(body)
	header := handler.HTTPHeader{"Content-Type": "application/json", "X-Content-Type-Options": "nosniff"}
	if after, ok := retryAfter(status.Convert(err)); ok {
		header["Retry-After"] = strconv.Itoa(after)
	}
	code := d.Reason
	if code == "" {
		code = d.Status
	}
	return handler.Error{ErrorCode: code, Message: d.Message,
		HTTPResponse: handler.HTTPResponse{StatusCode: d.Code, Body: string(b) + "\n", Header: header}}
}

// tusField names a request field as a tus client knows it.
func tusField(st *status.Status) string {
	_, f := apperr.Info(st)
	switch f {
	case "":
		return ""
	case "size":
		return "Upload-Length"
	case "chunk":
		return "body"
	case "start.offset":
		return "Upload-Offset"
	case "metadata.file_name":
		return "filename"
	case "metadata.content_type":
		return "filetype"
	}
	return strings.TrimPrefix(f, "metadata.")
}
