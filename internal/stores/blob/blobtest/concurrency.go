package blobtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// generator returns a reader of size deterministic pseudo-random bytes.
func generator(seed uint64, size int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return io.LimitReader(rand.NewChaCha8(s), size)
}

func testLargeObject(t *testing.T, newStore NewStore) {
	const size = 20 << 20
	s := newStore(t)
	h := sha256.New()
	a, err := s.Put(t.Context(), "large/object.bin", io.TeeReader(generator(1, size), h), blob.PutOptions{ContentType: "application/x-large"})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	if a.Size != size {
		t.Errorf("Put size = %d, want %d", a.Size, size)
	}
	rc, got, err := s.Get(t.Context(), "large/object.bin")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != want {
		t.Errorf("Get returned %d bytes with sha256 %x, want %d bytes with %s", n, h.Sum(nil), size, want)
	}
	sameAttrs(t, "Get", got, a)

	// A range deep inside matches the generator at that offset.
	const off, length = 13<<20 + 7, 1 << 16
	wantRange := make([]byte, length)
	g := generator(1, size)
	if _, err := io.CopyN(io.Discard, g, off); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(g, wantRange); err != nil {
		t.Fatal(err)
	}
	rc, _, err = s.GetRange(t.Context(), "large/object.bin", off, length)
	if err != nil {
		t.Fatalf("GetRange: %v", err)
	}
	if b := readClose(t, rc); !bytes.Equal(b, wantRange) {
		t.Errorf("GetRange(%d, %d) content differs from the generator", off, length)
	}
}

// version is one distinct object written by the concurrency tests.
type version struct {
	content []byte
	ct      string
}

func versions(n int) []version {
	vs := make([]version, n)
	for i := range vs {
		// Different fill bytes, and sizes equal in pairs, so that neither a
		// mix of versions nor metadata of the wrong version goes unnoticed.
		size := 64<<10 + i/2*4099
		vs[i] = version{content: bytes.Repeat([]byte{byte('a' + i)}, size), ct: fmt.Sprintf("application/x-version-%d", i)}
	}
	return vs
}

// identify returns the index of the version whose content is b, or -1.
func identify(vs []version, b []byte) int {
	for i, v := range vs {
		if bytes.Equal(v.content, b) {
			return i
		}
	}
	return -1
}

func testConcurrentPuts(t *testing.T, newStore NewStore) {
	s := newStore(t)
	vs := versions(8)
	etags := make([]string, len(vs))
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Go(func() {
			a, err := s.Put(t.Context(), "contended", bytes.NewReader(v.content), blob.PutOptions{ContentType: v.ct})
			if err != nil {
				t.Errorf("Put version %d: %v", i, err)
				return
			}
			etags[i] = a.ETag
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got, a := get(t, s, "contended")
	i := identify(vs, got)
	if i < 0 {
		t.Fatalf("final object (%d bytes) is none of the versions written", len(got))
	}
	want := blob.Attrs{Key: "contended", Size: int64(len(got)), ContentType: vs[i].ct, ETag: etags[i]}
	sameAttrs(t, "Get after concurrent Puts", a, want)
}

// testReadersSeeWholeVersions overwrites a key while readers check that
// every Get returns one complete version with that version's metadata.
func testReadersSeeWholeVersions(t *testing.T, newStore NewStore) {
	s := newStore(t)
	vs := versions(4)
	etags := make([]string, len(vs))
	for i, v := range vs { // learn each version's ETag
		etags[i] = put(t, s, fmt.Sprintf("probe/%d", i), v.content, blob.PutOptions{ContentType: v.ct}).ETag
	}
	put(t, s, "hot", vs[0].content, blob.PutOptions{ContentType: vs[0].ct})

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for n := range 40 {
			v := vs[n%len(vs)]
			if _, err := s.Put(t.Context(), "hot", bytes.NewReader(v.content), blob.PutOptions{ContentType: v.ct}); err != nil {
				t.Errorf("Put: %v", err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for reads := 0; ; reads++ {
				select {
				case <-done:
					if reads > 0 {
						return
					}
				default:
				}
				rc, a, err := s.Get(t.Context(), "hot")
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				i := identify(vs, b)
				if i < 0 {
					t.Errorf("Get returned %d bytes that are no complete version", len(b))
					return
				}
				if a.ContentType != vs[i].ct || a.ETag != etags[i] || a.Size != int64(len(b)) {
					t.Errorf("Get returned version %d with attrs %+v, want ContentType %q ETag %q Size %d",
						i, a, vs[i].ct, etags[i], len(b))
					return
				}
			}
		})
	}
	wg.Wait()
}
