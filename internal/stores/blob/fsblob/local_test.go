package fsblob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// OpenLocal gives the object's own file, with Get's attributes, and the
// open file keeps the object it was opened on whatever happens to the key.
func TestOpenLocal(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	old := bytes.Repeat([]byte("old "), 10_000)
	putAttrs, err := s.Put(ctx, "a/b", bytes.NewReader(old), blob.PutOptions{ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		after func(t *testing.T)
	}{
		{"unchanged", func(*testing.T) {}},
		{"replaced while open", func(t *testing.T) {
			if _, err := s.Put(ctx, "a/b", strings.NewReader("new"), blob.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted while open", func(t *testing.T) {
			if err := s.Delete(ctx, "a/b"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Put(ctx, "a/b", bytes.NewReader(old), blob.PutOptions{ContentType: "image/png"}); err != nil {
				t.Fatal(err)
			}
			f, attrs, err := s.OpenLocal(ctx, "a/b")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if attrs.Size != int64(len(old)) || attrs.ETag != putAttrs.ETag || attrs.ContentType != "image/png" {
				t.Errorf("attrs = %+v, Put said %+v", attrs, putAttrs)
			}
			c.after(t)
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, old) {
				t.Errorf("read %d bytes (%v), want the %d bytes it was opened on", len(got), err, len(old))
			}
		})
	}
	if _, _, err := s.OpenLocal(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("OpenLocal of a missing key: %v, want ErrNotFound", err)
	}
	if _, _, err := s.OpenLocal(ctx, "../x"); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("OpenLocal of an invalid key: %v, want ErrInvalidKey", err)
	}
}
