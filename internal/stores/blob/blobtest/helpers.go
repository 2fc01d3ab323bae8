package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

func put(t *testing.T, s blob.Store, key string, content []byte, opts blob.PutOptions) blob.Attrs {
	t.Helper()
	a, err := s.Put(t.Context(), key, bytes.NewReader(content), opts)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if a.Key != key || a.Size != int64(len(content)) || a.ETag == "" {
		t.Fatalf("Put(%q) attrs = %+v, want key %q, size %d and an ETag", key, a, key, len(content))
	}
	return a
}

// get reads a whole object.
func get(t *testing.T, s blob.Store, key string) ([]byte, blob.Attrs) {
	t.Helper()
	rc, a, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return readClose(t, rc), a
}

func readClose(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

// wantContent fetches key and checks its content and attributes.
func wantContent(t *testing.T, s blob.Store, key string, content []byte, want blob.Attrs) {
	t.Helper()
	got, a := get(t, s, key)
	if !bytes.Equal(got, content) {
		t.Errorf("Get(%q) = %d bytes %.32q, want %d bytes %.32q", key, len(got), got, len(content), content)
	}
	sameAttrs(t, "Get("+key+")", a, want)
	h, err := s.Head(t.Context(), key)
	if err != nil {
		t.Fatalf("Head(%q): %v", key, err)
	}
	sameAttrs(t, "Head("+key+")", h, want)
}

// sameAttrs compares everything but ModTime, which drivers may round.
func sameAttrs(t *testing.T, what string, got, want blob.Attrs) {
	t.Helper()
	if got.Key != want.Key || got.Size != want.Size || got.ContentType != want.ContentType ||
		got.ETag != want.ETag || got.CacheControl != want.CacheControl {
		t.Errorf("%s attrs = %+v, want %+v (ModTime not compared)", what, got, want)
	}
}

// wantRecent checks that tm lies in [start, end], widened for drivers that
// keep whole seconds.
func wantRecent(t *testing.T, what string, tm, start, end time.Time) {
	t.Helper()
	if tm.Before(start.Truncate(time.Second).Add(-time.Second)) || tm.After(end.Add(2*time.Second)) {
		t.Errorf("%s ModTime = %v, want between %v and %v", what, tm, start, end)
	}
}

func wantNotFound(t *testing.T, s blob.Store, key string) {
	t.Helper()
	if _, err := s.Head(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Head(%q) error = %v, want ErrNotFound", key, err)
	}
	if rc, _, err := s.Get(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get(%q) error = %v, want ErrNotFound", key, err)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// FailingReader returns a reader that yields n bytes of 'x', then err: a
// body that breaks partway, for drivers' own failure tests.
func FailingReader(n int, err error) io.Reader { return &failingReader{n: n, err: err} }

// CancellingReader returns a reader that yields n bytes, then calls cancel
// and yields 8 MiB more before EOF, so that a Put ignoring the cancellation
// completes (and fails its test) instead of hanging.
func CancellingReader(n int, cancel context.CancelFunc) io.Reader {
	return &cancellingReader{n: n, cancel: cancel}
}

// failingReader yields n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	p = p[:min(len(p), r.n)]
	for i := range p {
		p[i] = 'x'
	}
	r.n -= len(p)
	return len(p), nil
}

// cancellingReader yields data, cancelling its context after the first n
// bytes; 8 MiB later it ends, so that a driver ignoring the cancellation
// completes its Put (and fails the test) instead of hanging it.
type cancellingReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	if r.n <= -8<<20 {
		return 0, io.EOF
	}
	p = p[:min(len(p), r.n+8<<20)]
	r.n -= len(p)
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}
