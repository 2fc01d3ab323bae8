package blobtest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

func testCancelledContext(t *testing.T, newStore NewStore) {
	s := newStore(t)
	a := put(t, s, "k", []byte("kept"), blob.PutOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Put(ctx, "k", strings.NewReader("replaced"), blob.PutOptions{})
	wantCanceled(t, "Put", err)
	_, err = s.Head(ctx, "k")
	wantCanceled(t, "Head", err)
	rc, _, err := s.Get(ctx, "k")
	if err == nil {
		rc.Close()
	}
	wantCanceled(t, "Get", err)
	wantCanceled(t, "Delete", s.Delete(ctx, "k"))
	wantContent(t, s, "k", []byte("kept"), a)
}

func wantCanceled(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%s with a cancelled context: error = %v, want context.Canceled", op, err)
	}
}

// testFailedPut checks that a Put whose reader fails or whose context is
// cancelled midway stores nothing and leaves a previous object intact.
func testFailedPut(t *testing.T, newStore NewStore) {
	errBoom := errors.New("reader exploded")
	tests := []struct {
		name string
		// body returns the reader and the context to Put with.
		body       func(ctx context.Context) (io.Reader, context.Context)
		wantCancel bool
	}{
		{"ReaderError", func(ctx context.Context) (io.Reader, context.Context) {
			return &failingReader{n: 3 << 20, err: errBoom}, ctx
		}, false},
		{"ReaderErrorAtStart", func(ctx context.Context) (io.Reader, context.Context) {
			return &failingReader{err: errBoom}, ctx
		}, false},
		{"CancelledMidway", func(ctx context.Context) (io.Reader, context.Context) {
			ctx, cancel := context.WithCancel(ctx)
			return &cancellingReader{n: 3 << 20, cancel: cancel}, ctx
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			prev := put(t, s, "existing", []byte("previous version"), blob.PutOptions{ContentType: "text/plain"})
			for _, key := range []string{"existing", "fresh/key"} {
				r, ctx := tc.body(t.Context())
				a, err := s.Put(ctx, key, r, blob.PutOptions{ContentType: "application/x-broken"})
				if err == nil {
					t.Fatalf("Put(%q) succeeded with attrs %+v, want an error", key, a)
				}
				if tc.wantCancel {
					wantCanceled(t, "Put", err)
				}
			}
			wantNotFound(t, s, "fresh/key")
			wantContent(t, s, "existing", []byte("previous version"), prev)
			// The store still works for the keys afterwards.
			b := put(t, s, "fresh/key", []byte("ok"), blob.PutOptions{})
			wantContent(t, s, "fresh/key", []byte("ok"), b)
		})
	}
}
