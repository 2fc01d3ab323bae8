package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/imagepipe/imagepipe/internal/stores/blob/blobtest"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
)

// partSize is the smallest part size, to keep multipart tests small.
const partSize = s3blob.MinPartSize

// TestMultipartPut checks that a body larger than a part is stored whole,
// with the metadata of a single-part Put and the same ETag as a single-part
// upload of the same content, and that no staging object or upload is left.
func TestMultipartPut(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	multi := srv.store(t, "", s3blob.Options{PartSize: partSize, Concurrency: 3})
	single := srv.store(t, "", s3blob.Options{PartSize: 4 * partSize})
	data := content(1, 2*int(partSize)+12345)
	opts := blob.PutOptions{ContentType: "image/jpeg", CacheControl: "public, max-age=60"}
	want := blob.Attrs{Key: "multi", Size: int64(len(data)), ContentType: "image/jpeg", ETag: sha256Hex(data), CacheControl: opts.CacheControl}

	a, err := multi.Put(t.Context(), "multi", bytes.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.ModTime.IsZero() {
		t.Error("Put returned no ModTime")
	}
	if a.Key != want.Key || a.Size != want.Size || a.ETag != want.ETag || a.ContentType != want.ContentType || a.CacheControl != want.CacheControl {
		t.Errorf("Put attrs = %+v, want %+v", a, want)
	}
	wantObject(t, multi, "multi", data, want)

	b, err := single.Put(t.Context(), "single", bytes.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	if b.ETag != a.ETag {
		t.Errorf("ETag single-part %q != multipart %q for the same content", b.ETag, a.ETag)
	}
	head, err := srv.raw.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &srv.bucket, Key: new("multi")})
	if err != nil {
		t.Fatal(err)
	}
	if got := head.Metadata["sha256"]; got != want.ETag {
		t.Errorf("x-amz-meta-sha256 = %q, want %q", got, want.ETag)
	}
	srv.wantKeys(t, "multi", "single")
}

// TestMultipartCopy lowers the CopyObject limit so that the staged upload
// is committed with a multipart copy.
func TestMultipartCopy(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := srv.store(t, "", s3blob.Options{PartSize: partSize})
	s3blob.SetCopyLimits(s, partSize, partSize)
	data := content(2, 2*int(partSize)+1)
	opts := blob.PutOptions{ContentType: "video/mp4", CacheControl: "no-store"}
	if _, err := s.Put(t.Context(), "copied/in/parts", bytes.NewReader(data), opts); err != nil {
		t.Fatal(err)
	}
	wantObject(t, s, "copied/in/parts", data, blob.Attrs{
		Key: "copied/in/parts", Size: int64(len(data)), ContentType: "video/mp4", ETag: sha256Hex(data), CacheControl: "no-store",
	})
	srv.wantKeys(t, "copied/in/parts")
}

// TestFailedMultipartPut checks that a body failing, or a context cancelled,
// after more than a part has been uploaded leaves no object, no staging
// object and no multipart upload, and keeps a previous object.
func TestFailedMultipartPut(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("reader exploded")
	tests := []struct {
		name    string
		body    func(ctx context.Context) (io.Reader, context.Context)
		wantErr error
	}{
		{"ReaderError", func(ctx context.Context) (io.Reader, context.Context) {
			return blobtest.FailingReader(2*int(partSize)+1<<20, errBoom), ctx
		}, errBoom},
		{"Cancelled", func(ctx context.Context) (io.Reader, context.Context) {
			ctx, cancel := context.WithCancel(ctx)
			return blobtest.CancellingReader(2*int(partSize)+1<<20, cancel), ctx
		}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			s := srv.store(t, "", s3blob.Options{PartSize: partSize})
			prev := []byte("previous version")
			if _, err := s.Put(t.Context(), "existing", bytes.NewReader(prev), blob.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"existing", "fresh"} {
				r, ctx := tc.body(t.Context())
				a, err := s.Put(ctx, key, r, blob.PutOptions{})
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Put(%q) = %+v, %v; want error %v", key, a, err, tc.wantErr)
				}
			}
			srv.wantKeys(t, "existing")
			wantObject(t, s, "existing", prev, blob.Attrs{Key: "existing", Size: int64(len(prev)), ContentType: blob.DefaultContentType, ETag: sha256Hex(prev)})
		})
	}
}
