package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc/codes"
)

// The HTTP server (Config.HTTPServer) bounds only the headers and idle
// connections; withDeadlines bounds each request by what it is:
//
//   - JSON routes (grpc-gateway, /healthz, ...): the body, at most
//     MaxJSONBytes, is read within ReadTimeout before the route runs, and
//     the answer is written within WriteTimeout.
//   - Uploads (POST /v1/images): the body, at most MaxUploadBytes plus
//     multipartOverhead (a multipart one: MaxMultipartBytes), may take any time as long as it moves (cut after
//     ReadTimeout without a byte); the answer gets WriteTimeout once the
//     body is read (plus the wait for READY).
//   - Streams (watches, SSE or not; variant downloads): no overall write
//     deadline; SSE and downloads are cut when one write is stuck for
//     WriteTimeout.

// uploadCap is the most an upload's body may hold: one original and the
// multipart framing around it, or for a multipart body of several files
// MaxMultipartBytes.
func (g *Gateway) uploadCap(r *http.Request) int64 {
	single := g.cfg.MaxUploadBytes + multipartOverhead
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		return max(g.cfg.MaxMultipartBytes, single)
	}
	return single
}

// multipartOverhead is what an upload's body may hold beyond the original
// itself: multipart boundaries, part headers and small fields.
const multipartOverhead = 1 << 20

// extraParts is how many parts other than files a multipart upload may
// hold.
const extraParts = 16

// reasonRequestTimeout marks a body that did not arrive in time: 408.
const reasonRequestTimeout = "REQUEST_TIMEOUT"

// routeKind sorts requests by how they are bounded.
type routeKind int

const (
	routeJSON routeKind = iota
	routeUpload
	routeStream
)

func kindOf(r *http.Request) routeKind {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/images",
		(r.Method == http.MethodPatch || r.Method == http.MethodPost) && strings.HasPrefix(r.URL.Path, tusPath): // tus.go
		return routeUpload
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasPrefix(r.URL.Path, "/a/"):
		return routeStream
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ":watch"):
		return routeStream
	}
	return routeJSON
}

// withDeadlines sets each request's read and write deadlines and caps its
// body, as the comment above says.
func (g *Gateway) withDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch kindOf(r) {
		case routeUpload:
			// No write deadline while the body comes in (a kept-alive
			// connection keeps the one of its last request otherwise).
			_ = rc.SetWriteDeadline(time.Time{})
			if r.ContentLength != 0 {
				// Also bounds the server's drain of a body the route
				// refused without reading.
				_ = rc.SetReadDeadline(time.Now().Add(g.cfg.ReadTimeout))
			}
			r.Body = http.MaxBytesReader(w, &movingDeadline{r: r.Body, rc: rc, timeout: g.cfg.ReadTimeout}, g.uploadCap(r))
		case routeStream:
			_ = rc.SetWriteDeadline(time.Time{})
		default:
			_ = rc.SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
			if err := g.readJSONBody(w, r, rc); err != nil {
				writeError(w, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// readJSONBody reads a JSON request's body, at most MaxJSONBytes, within
// ReadTimeout, and gives it back to the request from memory. A request
// without a body is left alone: a read deadline would also end the
// server's wait for the client going away, and so the request.
func (g *Gateway) readJSONBody(w http.ResponseWriter, r *http.Request, rc *http.ResponseController) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	_ = rc.SetReadDeadline(time.Now().Add(g.cfg.ReadTimeout))
	if r.ContentLength > g.cfg.MaxJSONBytes {
		w.Header().Set("Connection", "close")
		return tooLarge(g.cfg.MaxJSONBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxJSONBytes))
	if err != nil {
		// The deadline stays: what is left of the body is not waited for.
		return bodyError(err)
	}
	_ = rc.SetReadDeadline(time.Time{})
	r.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

// bodyError is the answer to a request body that could not be read: over
// its cap (413), too slow (408), or cut short (400).
func bodyError(err error) error {
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge(mbe.Limit)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &apperr.Error{Code: codes.DeadlineExceeded, Reason: reasonRequestTimeout, Field: "body",
			Msg: "the request body did not arrive in time", Err: err}
	}
	return &apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonBadBody, Field: "body", Msg: "the request body ended early or is malformed", Err: err}
}

func tooLarge(limit int64) error {
	return &apperr.Error{Code: codes.ResourceExhausted, Reason: apperr.ReasonTooLarge, Field: "body",
		Msg: fmt.Sprintf("the request body is over its limit of %d bytes", limit)}
}

// movingDeadline reads an upload's body with a read deadline that moves
// forward with every read: a body may be slow, but not stall for the
// timeout. At the end of the body the deadline goes, so that the wait for
// READY (and the server's watch for the client going away) is not cut.
type movingDeadline struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
}

func (m *movingDeadline) Read(p []byte) (int, error) {
	_ = m.rc.SetReadDeadline(time.Now().Add(m.timeout))
	n, err := m.r.Read(p)
	if errors.Is(err, io.EOF) {
		_ = m.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (m *movingDeadline) Close() error { return m.r.Close() }

// answerDeadline gives an upload's answer WriteTimeout, after wait.
func (g *Gateway) answerDeadline(w http.ResponseWriter, wait time.Duration) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + g.cfg.WriteTimeout))
}

// copyChunk is how much of a variant is written under one write deadline.
const copyChunk = 1 << 20

// copyMoving copies size bytes of src to w, each copyChunk within
// timeout: a slow reader gets the whole file as long as it keeps reading.
// The headers go first, on their own, so that the body goes, chunk by
// chunk, to the first writer in w's Unwrap chain that has ReadFrom
// (net/http's own, past the gateway's wrappers, which only watch the
// status code): from an *os.File, that is one sendfile per chunk, with
// no copy through the Go heap.
func copyMoving(w http.ResponseWriter, src io.Reader, size int64, timeout time.Duration) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(timeout))
	if rc.Flush() != nil {
		return
	}
	dst := bodyWriter(w)
	chunk := &io.LimitedReader{R: src}
	for size > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(timeout))
		// Exactly what is left: sendfile stops there without asking for
		// more.
		chunk.N = min(size, copyChunk)
		n, err := io.Copy(dst, chunk)
		size -= n
		if err != nil || chunk.N > 0 {
			return
		}
	}
}

// bodyWriter is the first writer in w's Unwrap chain with ReadFrom, or w.
func bodyWriter(w http.ResponseWriter) io.Writer {
	for u := w; ; {
		if _, ok := u.(io.ReaderFrom); ok {
			return u
		}
		next, ok := u.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		u = next.Unwrap()
	}
}
