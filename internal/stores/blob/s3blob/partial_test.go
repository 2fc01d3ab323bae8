package s3blob_test

import (
	"bytes"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/blobtest"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
)

func TestPartialConformance(t *testing.T) {
	blobtest.RunPartial(t, func(t *testing.T) blob.PartialStore {
		return newServer(t).store(t, "o", s3blob.Options{PartSize: s3blob.MinPartSize})
	})
}

// TestPartialLeavesNothing: deleting a partial aborts its multipart
// upload and removes its bookkeeping, its tail included.
func TestPartialLeavesNothing(t *testing.T) {
	srv := newServer(t)
	s := srv.store(t, "o", s3blob.Options{PartSize: s3blob.MinPartSize})
	if _, err := s.CreatePartial(t.Context(), "img", 20<<20, nil, blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// A full part and a tail.
	if _, err := s.WritePartial(t.Context(), "img", 0, bytes.NewReader(content(1, 7<<20))); err != nil {
		t.Fatal(err)
	}
	if len(srv.uploads(t)) != 1 || len(srv.keys(t)) != 2 {
		t.Fatalf("while written: uploads %q, objects %q", srv.uploads(t), srv.keys(t))
	}
	if err := s.DeletePartial(t.Context(), "img"); err != nil {
		t.Fatal(err)
	}
	srv.wantKeys(t)
}
