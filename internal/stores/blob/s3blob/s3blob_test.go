package s3blob_test

import (
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/blobtest"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return newServer(t).store(t, "", s3blob.Options{})
	})
}
