package fsblob_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/blobtest"
)

func TestPartialConformance(t *testing.T) {
	blobtest.RunPartial(t, func(t *testing.T) blob.PartialStore { return newStore(t) })
}

// TestPartialHashStateLost: a write that died before saving its SHA-256
// state leaves the record behind the file; completing hashes the file.
func TestPartialHashStateLost(t *testing.T) {
	s := newStore(t)
	data := bytes.Repeat([]byte("0123456789"), 100000)
	if _, err := s.CreatePartial(t.Context(), "k", int64(len(data)), nil, blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePartial(t.Context(), "k", 0, bytes.NewReader(data[:1000])); err != nil {
		t.Fatal(err)
	}
	recs, _ := filepath.Glob(filepath.Join(s.Root(), "partials", "*.json"))
	if len(recs) != 1 {
		t.Fatalf("records %v", recs)
	}
	before, err := os.ReadFile(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePartial(t.Context(), "k", 1000, bytes.NewReader(data[1000:])); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recs[0], before, 0o644); err != nil { // as if the second write died before its record
		t.Fatal(err)
	}
	attrs, err := s.CompletePartial(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); attrs.ETag != hex.EncodeToString(sum[:]) {
		t.Errorf("ETag %s, want %x", attrs.ETag, sum)
	}
}
