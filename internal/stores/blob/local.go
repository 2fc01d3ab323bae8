package blob

import (
	"context"
	"os"
)

// Localer is a Store whose objects are files on this machine (fsblob). A
// reader that needs a file, such as libvips reading an original through a
// descriptor, opens the object's own file instead of copying the object
// into memory or into a temporary file.
type Localer interface {
	Store
	// OpenLocal opens the file of the object under key for reading, with
	// the object's attributes; the caller closes it. A missing object
	// yields an error wrapping ErrNotFound. The file is the object as it
	// was when opened: a Put or Delete of the key meanwhile does not change
	// what it reads. The caller must not write to it.
	OpenLocal(ctx context.Context, key string) (*os.File, Attrs, error)
}
