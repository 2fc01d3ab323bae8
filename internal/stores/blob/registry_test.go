package blob_test

import (
	"errors"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

func TestOpenUnknownScheme(t *testing.T) {
	if _, err := blob.Open(t.Context(), "nosuch://bucket"); !errors.Is(err, blob.ErrUnknownScheme) {
		t.Fatalf("Open = %v, want ErrUnknownScheme", err)
	}
}
