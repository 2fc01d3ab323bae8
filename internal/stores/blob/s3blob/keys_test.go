package s3blob_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
)

// TestPrefixAndKeyEncoding checks where objects land in the bucket: under
// the prefix (one with characters that need escaping in a copy source),
// with segments longer than MaxSegmentLength hashed.
func TestPrefixAndKeyEncoding(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	const prefix = "pré fix/+%&?"
	s := srv.store(t, prefix, s3blob.Options{PartSize: partSize})
	long := strings.Repeat("L", s3blob.MaxSegmentLength+1)
	big := content(3, int(partSize)+1) // multipart: staged and copied
	objects := map[string][]byte{
		"a/b":        []byte("small"),
		"big":        big,
		long + "/x":  []byte("long segment"),
		"x/" + long:  []byte("long last segment"),
		"é/ü~!*'()$": []byte("odd characters"),
	}
	for k, v := range objects {
		if _, err := s.Put(t.Context(), k, bytes.NewReader(v), blob.PutOptions{}); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	hashed := ".s3blob-long-" + sha256Hex([]byte(long))
	srv.wantKeys(t, prefix+"/a/b", prefix+"/big", prefix+"/"+hashed+"/x", prefix+"/x/"+hashed, prefix+"/é/ü~!*'()$")
	for k, v := range objects {
		wantObject(t, s, k, v, blob.Attrs{Key: k, Size: int64(len(v)), ContentType: blob.DefaultContentType, ETag: sha256Hex(v)})
	}

	// Another prefix in the same bucket is another namespace.
	other := srv.store(t, "other", s3blob.Options{})
	if _, err := other.Head(t.Context(), "a/b"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Head(a/b) under another prefix = %v, want ErrNotFound", err)
	}
}

func TestRejectedKeys(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	const prefix = "p/q" // 4 bytes with the slash
	s := srv.store(t, prefix, s3blob.Options{})
	segs := func(n, size int) string { // n segments of size bytes, slash-separated
		return strings.TrimSuffix(strings.Repeat(strings.Repeat("s", size-1)+"/", n), "/")
	}
	fits := segs(5, 204) // 1019 bytes: 1023 with the prefix
	if _, err := s.Put(t.Context(), fits, strings.NewReader("x"), blob.PutOptions{}); err != nil {
		t.Errorf("Put of a %d-byte key under %q: %v", len(fits), prefix, err)
	}
	for _, key := range []string{
		".s3blob-staging/x",
		"a/.s3blob-long-0123",
		".s3blob-",
		fits + "ss", // 1025 bytes with the prefix
	} {
		_, err := s.Put(t.Context(), key, strings.NewReader("x"), blob.PutOptions{})
		_, herr := s.Head(t.Context(), key)
		derr := s.Delete(t.Context(), key)
		for op, err := range map[string]error{"Put": err, "Head": herr, "Delete": derr} {
			if !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s(%.40q…) = %v, want ErrInvalidKey", op, key, err)
			}
		}
	}
	srv.wantKeys(t, prefix+"/"+fits)
}
