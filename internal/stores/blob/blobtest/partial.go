package blobtest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// NewPartialStore returns an empty PartialStore for one subtest.
type NewPartialStore func(t *testing.T) blob.PartialStore

// RunPartial runs the conformance suite of blob.PartialStore. The
// pieces written straddle S3's 5 MiB part minimum, so a driver made with
// that part size writes full parts, tails and a short last part.
func RunPartial(t *testing.T, newStore NewPartialStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, blob.PartialStore)
	}{
		{"InPieces", testPartialInPieces},
		{"WrongOffset", testPartialWrongOffset},
		{"ReaderFails", testPartialReaderFails},
		{"TooManyBytes", testPartialTooManyBytes},
		{"Delete", testPartialDelete},
		{"DeleteDuringWrite", testPartialDeleteDuringWrite},
		{"List", testPartialList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func createPartial(t *testing.T, s blob.PartialStore, key string, size int) blob.Partial {
	t.Helper()
	p, err := s.CreatePartial(t.Context(), key, int64(size), []byte(`{"who":"test"}`), blob.PutOptions{ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Key != key || p.Size != int64(size) || p.Offset != 0 || p.Complete || string(p.Info) != `{"who":"test"}` {
		t.Fatalf("created %+v", p)
	}
	return p
}

func wantOffset(t *testing.T, s blob.PartialStore, key string, want int64) {
	t.Helper()
	p, err := s.StatPartial(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if p.Offset != want {
		t.Fatalf("offset %d, want %d", p.Offset, want)
	}
}

func testPartialInPieces(t *testing.T, s blob.PartialStore) {
	data := randomBytes(12<<20 + 12345)
	createPartial(t, s, "p/in-pieces", len(data))
	if _, err := s.CreatePartial(t.Context(), "p/in-pieces", 1, nil, blob.PutOptions{}); !errors.Is(err, blob.ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	// A small piece (a tail), one that fills a part and more, a small one,
	// the rest.
	cuts := []int{0, 100 << 10, 7 << 20, 7<<20 + 1, len(data)}
	for i := 1; i < len(cuts); i++ {
		n, err := s.WritePartial(t.Context(), "p/in-pieces", int64(cuts[i-1]), bytes.NewReader(data[cuts[i-1]:cuts[i]]))
		if err != nil || n != int64(cuts[i]-cuts[i-1]) {
			t.Fatalf("write %d..%d: %d, %v", cuts[i-1], cuts[i], n, err)
		}
		wantOffset(t, s, "p/in-pieces", int64(cuts[i]))
		if i < len(cuts)-1 {
			wantNotFound(t, s, "p/in-pieces") // invisible until complete
			if _, err := s.CompletePartial(t.Context(), "p/in-pieces"); !errors.Is(err, blob.ErrIncomplete) {
				t.Fatalf("complete at %d: %v, want ErrIncomplete", cuts[i], err)
			}
		}
	}
	attrs, err := s.CompletePartial(t.Context(), "p/in-pieces")
	if err != nil {
		t.Fatal(err)
	}
	if attrs.ETag != sha(data) || attrs.Size != int64(len(data)) || attrs.ContentType != "image/png" {
		t.Errorf("completed %+v, want the SHA-256 %s", attrs, sha(data))
	}
	got, _ := get(t, s, "p/in-pieces")
	if !bytes.Equal(got, data) {
		t.Fatalf("object of %d bytes differs from the %d written", len(got), len(data))
	}
	again, err := s.CompletePartial(t.Context(), "p/in-pieces")
	if err != nil || again.ETag != attrs.ETag {
		t.Errorf("second complete: %+v, %v", again, err)
	}
	if p, err := s.StatPartial(t.Context(), "p/in-pieces"); err != nil || !p.Complete || p.ETag != attrs.ETag || p.Offset != p.Size {
		t.Errorf("stat of the complete partial: %+v, %v", p, err)
	}
	if err := s.DeletePartial(t.Context(), "p/in-pieces"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatPartial(t.Context(), "p/in-pieces"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after delete: %v, want ErrNotFound", err)
	}
	if got, _ := get(t, s, "p/in-pieces"); !bytes.Equal(got, data) {
		t.Error("deleting the complete partial's bookkeeping changed the object")
	}
}

func testPartialWrongOffset(t *testing.T, s blob.PartialStore) {
	createPartial(t, s, "p/offset", 10)
	if n, err := s.WritePartial(t.Context(), "p/offset", 3, bytes.NewReader([]byte("abc"))); !errors.Is(err, blob.ErrOffsetMismatch) || n != 0 {
		t.Errorf("write at 3 of an empty partial: %d, %v", n, err)
	}
	if _, err := s.WritePartial(t.Context(), "p/offset", 0, bytes.NewReader([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePartial(t.Context(), "p/offset", 0, bytes.NewReader([]byte("abc"))); !errors.Is(err, blob.ErrOffsetMismatch) {
		t.Errorf("write at 0 again: %v", err)
	}
	if _, err := s.WritePartial(t.Context(), "p/missing", 0, bytes.NewReader([]byte("abc"))); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("write to no partial: %v, want ErrNotFound", err)
	}
	wantOffset(t, s, "p/offset", 3)
}

// testPartialReaderFails: what came before the body failed is kept.
func testPartialReaderFails(t *testing.T, s blob.PartialStore) {
	data := make([]byte, 6<<20)
	createPartial(t, s, "p/fails", len(data)+1000)
	n, err := s.WritePartial(t.Context(), "p/fails", 0, FailingReader(len(data), errors.New("connection reset")))
	if err == nil || n != int64(len(data)) {
		t.Fatalf("write of a body failing after %d bytes: %d, %v", len(data), n, err)
	}
	wantOffset(t, s, "p/fails", n)
	rest := randomBytes(1000)
	if _, err := s.WritePartial(t.Context(), "p/fails", n, bytes.NewReader(rest)); err != nil {
		t.Fatal(err)
	}
	attrs, err := s.CompletePartial(t.Context(), "p/fails")
	if err != nil {
		t.Fatal(err)
	}
	// FailingReader yields 'x'.
	want := append(bytes.Repeat([]byte("x"), len(data)), rest...)
	if attrs.ETag != sha(want) {
		t.Errorf("ETag %s, want %s", attrs.ETag, sha(want))
	}
}

func testPartialTooManyBytes(t *testing.T, s blob.PartialStore) {
	createPartial(t, s, "p/too-many", 5)
	if _, err := s.WritePartial(t.Context(), "p/too-many", 0, bytes.NewReader([]byte("abcdefgh"))); err == nil {
		t.Error("8 bytes into a 5-byte partial: no error")
	}
	p, err := s.StatPartial(t.Context(), "p/too-many")
	if err != nil || p.Offset > 5 {
		t.Errorf("after too many bytes: %+v, %v", p, err)
	}
}

func testPartialDelete(t *testing.T, s blob.PartialStore) {
	createPartial(t, s, "p/delete", 8<<20)
	if _, err := s.WritePartial(t.Context(), "p/delete", 0, bytes.NewReader(randomBytes(6<<20))); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePartial(t.Context(), "p/delete"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePartial(t.Context(), "p/delete"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.StatPartial(t.Context(), "p/delete"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after delete: %v, want ErrNotFound", err)
	}
	wantNotFound(t, s, "p/delete")
	createPartial(t, s, "p/delete", 3) // the key is free again
}

// A partial is not deleted while a write of it is in flight (the write
// would bring its bookkeeping back, naming bytes that are gone); once the
// write has ended, it is.
func testPartialDeleteDuringWrite(t *testing.T, s blob.PartialStore) {
	createPartial(t, s, "p/busy", 8<<20)
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		_, err := s.WritePartial(t.Context(), "p/busy", 0, pr)
		wrote <- err
	}()
	if _, err := pw.Write(randomBytes(1 << 20)); err != nil { // the write has begun
		t.Fatal(err)
	}
	if err := s.DeletePartial(t.Context(), "p/busy"); !errors.Is(err, blob.ErrOffsetMismatch) {
		t.Errorf("delete during a write: %v, want ErrOffsetMismatch", err)
	}
	pw.Close()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if p, err := s.StatPartial(t.Context(), "p/busy"); err != nil || p.Offset != 1<<20 {
		t.Errorf("after the write: %+v, %v; want 1 MiB kept", p, err)
	}
	if err := s.DeletePartial(t.Context(), "p/busy"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatPartial(t.Context(), "p/busy"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after delete: %v, want ErrNotFound", err)
	}
}

func testPartialList(t *testing.T, s blob.PartialStore) {
	before := time.Now().Add(-time.Second)
	createPartial(t, s, "p/list-a", 3)
	createPartial(t, s, "p/list-b", 3)
	list := func(cutoff time.Time) map[string]bool {
		seen := map[string]bool{}
		if err := s.ListPartials(t.Context(), cutoff, func(p blob.Partial) error { seen[p.Key] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	if got := list(time.Now().Add(time.Second)); !got["p/list-a"] || !got["p/list-b"] || len(got) != 2 {
		t.Errorf("partials created before now: %v", got)
	}
	if got := list(before); len(got) != 0 {
		t.Errorf("partials created before the test: %v", got)
	}
}
