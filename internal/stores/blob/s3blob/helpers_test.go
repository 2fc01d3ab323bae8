package s3blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// server is a fresh bucket on the local S3 server, removed with everything
// in it when the test ends.
type server struct {
	cfg    aws.Config
	bucket string
	raw    *s3.Client // for checks behind the store's back
}

func newServer(t *testing.T) *server {
	t.Helper()
	srv := newServerNoBucket(t)
	// Creating the bucket through a store also tests EnsureBucket.
	if err := srv.store(t, "", s3blob.Options{}).EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// newServerNoBucket is newServer without creating the bucket; it is still
// removed at the end of the test if it exists then.
func newServerNoBucket(t *testing.T) *server {
	t.Helper()
	cfg := awstest.Config(t, "S3")
	srv := &server{
		cfg:    cfg,
		bucket: awstest.Name("s3blob"),
		raw:    s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := srv.raw.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &srv.bucket}); err != nil {
			return // never created
		}
		if err := srv.remove(ctx); err != nil {
			t.Errorf("remove bucket %s: %v", srv.bucket, err)
		}
	})
	return srv
}

// store opens a Store on the server's bucket.
func (srv *server) store(t *testing.T, prefix string, opts s3blob.Options) *s3blob.Store {
	t.Helper()
	s, err := s3blob.New(t.Context(), srv.cfg, srv.bucket, prefix, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// keys lists every object key in the bucket, sorted.
func (srv *server) keys(t *testing.T) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(srv.raw, &s3.ListObjectsV2Input{Bucket: &srv.bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

// uploads lists the keys of the bucket's multipart uploads in progress.
func (srv *server) uploads(t *testing.T) []string {
	t.Helper()
	out, err := srv.raw.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &srv.bucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// wantKeys fails unless the bucket holds exactly want and no multipart
// upload is in progress.
func (srv *server) wantKeys(t *testing.T, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := srv.keys(t); !slices.Equal(got, want) {
		t.Errorf("bucket holds %q, want %q", got, want)
	}
	if got := srv.uploads(t); len(got) != 0 {
		t.Errorf("multipart uploads in progress for %q, want none", got)
	}
}

// remove deletes every object and upload of the bucket, then the bucket.
// MinIO does not list objects below a key that is itself an object ("a"
// hides "a/b"), so objects are listed and deleted until none is left.
func (srv *server) remove(ctx context.Context) error {
	var errs []error
	uploads, err := srv.raw.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &srv.bucket})
	errs = append(errs, err)
	if err == nil {
		for _, u := range uploads.Uploads {
			_, err := srv.raw.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &srv.bucket, Key: u.Key, UploadId: u.UploadId})
			errs = append(errs, err)
		}
	}
	for range 20 {
		page, err := srv.raw.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.bucket})
		if err != nil {
			errs = append(errs, err)
			break
		}
		if len(page.Contents) == 0 {
			break
		}
		for _, o := range page.Contents {
			_, err := srv.raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &srv.bucket, Key: o.Key})
			errs = append(errs, err)
		}
	}
	_, err = srv.raw.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &srv.bucket})
	return errors.Join(append(errs, err)...)
}

// content returns size deterministic pseudo-random bytes.
func content(seed byte, size int) []byte {
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// get reads a whole object through the store.
func get(t *testing.T, s blob.Store, key string) ([]byte, blob.Attrs) {
	t.Helper()
	rc, a, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return b, a
}

// wantObject checks key's content and, ModTime aside, attributes.
func wantObject(t *testing.T, s blob.Store, key string, want []byte, wantAttrs blob.Attrs) {
	t.Helper()
	got, a := get(t, s, key)
	if !bytes.Equal(got, want) {
		t.Errorf("Get(%q) = %d bytes (sha256 %s), want %d bytes (sha256 %s)", key, len(got), sha256Hex(got), len(want), sha256Hex(want))
	}
	a.ModTime = time.Time{}
	if a != wantAttrs {
		t.Errorf("Get(%q) attrs = %+v, want %+v", key, a, wantAttrs)
	}
}
