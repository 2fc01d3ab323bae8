package fsblob_test

import (
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/blobtest"
)

func TestPartialConformance(t *testing.T) {
	blobtest.RunPartial(t, func(t *testing.T) blob.PartialStore { return newStore(t) })
}
