package fsblob

import (
	"context"
	"os"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

var _ blob.Localer = (*Store)(nil)

// OpenLocal implements blob.Localer: the object's data file, open for
// reading, with matching metadata (as Get). A Put replaces the data file
// by renaming another over it and a Delete unlinks it, so the open file
// keeps reading the object it was opened on.
func (s *Store) OpenLocal(ctx context.Context, key string) (*os.File, blob.Attrs, error) {
	return s.open(ctx, "open local", key)
}
