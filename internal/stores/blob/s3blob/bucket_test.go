package s3blob_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
)

func TestEnsureBucket(t *testing.T) {
	t.Parallel()
	srv := newServerNoBucket(t)
	s := srv.store(t, "", s3blob.Options{})
	if _, err := s.Put(t.Context(), "k", strings.NewReader("x"), blob.PutOptions{}); err == nil {
		t.Fatal("Put into a missing bucket succeeded")
	}
	var wg sync.WaitGroup
	for i := range 4 { // concurrent callers race to create it
		wg.Go(func() {
			if err := s.EnsureBucket(t.Context()); err != nil {
				t.Errorf("concurrent EnsureBucket #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if err := s.EnsureBucket(t.Context()); err != nil {
		t.Errorf("EnsureBucket on an existing bucket: %v", err)
	}
	if _, err := srv.raw.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: &srv.bucket}); err != nil {
		t.Fatalf("bucket missing after EnsureBucket: %v", err)
	}
	if _, err := s.Put(t.Context(), "k", strings.NewReader("x"), blob.PutOptions{}); err != nil {
		t.Errorf("Put after EnsureBucket: %v", err)
	}
	srv.wantKeys(t, "k")
}
