package queue_test

import (
	"errors"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

func TestOpenUnknownScheme(t *testing.T) {
	if _, err := queue.Open(t.Context(), "nosuch://bucket"); !errors.Is(err, queue.ErrUnknownScheme) {
		t.Fatalf("Open = %v, want ErrUnknownScheme", err)
	}
}
