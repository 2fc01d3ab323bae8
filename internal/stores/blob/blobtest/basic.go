package blobtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

func testRoundTrip(t *testing.T, newStore NewStore) {
	s := newStore(t)
	content := []byte("\x89PNG\r\n\x1a\n not really a png \x00\xff")
	opts := blob.PutOptions{ContentType: "image/png", CacheControl: "public, max-age=31536000, immutable"}
	start := time.Now()
	a := put(t, s, "images/2024/cat.png", content, opts)
	end := time.Now()
	want := blob.Attrs{
		Key: "images/2024/cat.png", Size: int64(len(content)), ContentType: opts.ContentType,
		ETag: a.ETag, CacheControl: opts.CacheControl,
	}
	sameAttrs(t, "Put", a, want)
	wantRecent(t, "Put", a.ModTime, start, end)
	if strings.ContainsAny(a.ETag, `"' `) {
		t.Errorf("ETag %q must be unquoted", a.ETag)
	}
	wantContent(t, s, "images/2024/cat.png", content, want)
	h, err := s.Head(t.Context(), "images/2024/cat.png")
	if err != nil {
		t.Fatal(err)
	}
	wantRecent(t, "Head", h.ModTime, start, end)
}

func testDefaultContentType(t *testing.T, newStore NewStore) {
	s := newStore(t)
	put(t, s, "no-type", []byte("data"), blob.PutOptions{})
	h, err := s.Head(t.Context(), "no-type")
	if err != nil {
		t.Fatal(err)
	}
	if h.ContentType != blob.DefaultContentType || h.CacheControl != "" {
		t.Errorf("Head attrs = %+v, want ContentType %q and no CacheControl", h, blob.DefaultContentType)
	}
}

func testEmptyObject(t *testing.T, newStore NewStore) {
	s := newStore(t)
	a := put(t, s, "empty", nil, blob.PutOptions{ContentType: "text/plain"})
	wantContent(t, s, "empty", nil, a)
}

func testETag(t *testing.T, newStore NewStore) {
	s := newStore(t)
	a := put(t, s, "one", []byte("same content"), blob.PutOptions{})
	b := put(t, s, "two", []byte("same content"), blob.PutOptions{ContentType: "text/plain"})
	c := put(t, s, "three", []byte("other content"), blob.PutOptions{})
	d := put(t, s, "one", []byte("same content"), blob.PutOptions{})
	if a.ETag != b.ETag || a.ETag != d.ETag {
		t.Errorf("same content: ETags %q, %q, %q differ", a.ETag, b.ETag, d.ETag)
	}
	if a.ETag == c.ETag {
		t.Errorf("different content: same ETag %q", a.ETag)
	}
	if sum := sha256.Sum256([]byte("same content")); a.ETag != hex.EncodeToString(sum[:]) {
		t.Errorf("Put's ETag %q is not the content's hex SHA-256", a.ETag)
	}
}

func testOverwrite(t *testing.T, newStore NewStore) {
	s := newStore(t)
	v1 := put(t, s, "doc", []byte("version one, the longer one"), blob.PutOptions{ContentType: "text/plain", CacheControl: "no-cache"})
	v2 := put(t, s, "doc", []byte("v2"), blob.PutOptions{ContentType: "text/markdown"})
	if v1.ETag == v2.ETag {
		t.Errorf("overwrite kept ETag %q", v1.ETag)
	}
	wantContent(t, s, "doc", []byte("v2"), v2)
	if v2.CacheControl != "" {
		t.Errorf("CacheControl %q survived an overwrite without one", v2.CacheControl)
	}
}

// testKeysThatArePrefixes checks that a key can be both an object and a
// prefix of others, and that names resembling a driver's internals work.
func testKeysThatArePrefixes(t *testing.T, newStore NewStore) {
	s := newStore(t)
	keys := []string{"a", "a/b", "a/b/c", "a.d", "a.d/x", "a.blob", "a.blob/y", "x.tmp", ".hidden", "meta", "objects/a"}
	attrs := map[string]blob.Attrs{}
	for _, k := range keys {
		attrs[k] = put(t, s, k, []byte("content of "+k), blob.PutOptions{})
	}
	for _, k := range keys {
		wantContent(t, s, k, []byte("content of "+k), attrs[k])
	}
	if err := s.Delete(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, "a")
	wantContent(t, s, "a/b", []byte("content of a/b"), attrs["a/b"])
	wantNotFound(t, s, "a/b/c/d")
}

func testUnusualKeys(t *testing.T, newStore NewStore) {
	s := newStore(t)
	seg := strings.Repeat("s", 99) // 100 bytes with the slash
	keys := []string{
		"unicode/ünïcödé/日本語/😀.jpg",
		"spaces in name/and more.txt",
		"query?x=1&y=2#frag",
		"percent%2F20 and +plus",
		"-dash/_under/~tilde/'quote'/\"dq\"/<lt>",
		strings.Repeat("x", 300), // one long segment
		strings.TrimSuffix(strings.Repeat(seg+"/", 10), "/") + "/" + strings.Repeat("z", 23), // 1023 bytes
		strings.Repeat("k", blob.MaxKeyLength),
	}
	for i, k := range keys {
		content := fmt.Appendf(nil, "content %d", i)
		a := put(t, s, k, content, blob.PutOptions{})
		wantContent(t, s, k, content, a)
	}
}

func testNotFound(t *testing.T, newStore NewStore) {
	s := newStore(t)
	put(t, s, "dir/file", []byte("x"), blob.PutOptions{})
	for _, k := range []string{"missing", "dir", "dir/file/below", "dir/other"} {
		wantNotFound(t, s, k)
		if rc, _, err := s.GetRange(t.Context(), k, 0, 1); err == nil {
			rc.Close()
			t.Errorf("GetRange(%q) succeeded, want ErrNotFound", k)
		} else if !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("GetRange(%q) error = %v, want ErrNotFound", k, err)
		}
	}
}

func testDeleteIdempotent(t *testing.T, newStore NewStore) {
	s := newStore(t)
	if err := s.Delete(t.Context(), "never/existed"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	put(t, s, "k", []byte("data"), blob.PutOptions{})
	for i := range 2 {
		if err := s.Delete(t.Context(), "k"); err != nil {
			t.Errorf("Delete #%d = %v, want nil", i+1, err)
		}
		wantNotFound(t, s, "k")
	}
	// The key is usable again after a delete.
	a := put(t, s, "k", []byte("again"), blob.PutOptions{})
	wantContent(t, s, "k", []byte("again"), a)
}

func testInvalidKeys(t *testing.T, newStore NewStore) {
	s := newStore(t)
	keys := []string{
		"", "/abs", "a//b", "a/", "./a", "a/./b", "a/..", "../a", "..", ".",
		`a\b`, "a\x00b", "a\nb", "a\tb", "a\x7fb", "a\u0085b", "\xff\xfe",
		strings.Repeat("a", blob.MaxKeyLength+1),
	}
	ctx := t.Context()
	for _, k := range keys {
		errs := map[string]error{}
		_, errs["Put"] = s.Put(ctx, k, bytes.NewReader([]byte("x")), blob.PutOptions{})
		_, errs["Head"] = s.Head(ctx, k)
		errs["Delete"] = s.Delete(ctx, k)
		rc, _, err := s.Get(ctx, k)
		if err == nil {
			rc.Close()
		}
		errs["Get"] = err
		rc, _, err = s.GetRange(ctx, k, 0, -1)
		if err == nil {
			rc.Close()
		}
		errs["GetRange"] = err
		for op, err := range errs {
			if !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s(%q) error = %v, want ErrInvalidKey", op, k, err)
			}
		}
		if err := blob.ValidateKey(k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}
