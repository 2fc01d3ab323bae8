// Package fsblob is a blob.Store on the local file system.
//
// It registers the "file" URL scheme. Accepted URLs:
//
//	file:///abs/path            absolute root
//	file://localhost/abs/path   same, with the only host accepted
//	file://./rel/path           root relative to the working directory
//	file:rel/path               same (opaque form)
//
// Query parameters and fragments are rejected; percent-encode '?', '#' and
// '%' in paths. A relative root is made absolute when the store is opened.
//
// # Layout
//
// Under the root, object data lives in objects/ and a JSON metadata sidecar
// for each object in meta/ at the same relative path, so metadata can never
// collide with an object. Each key segment maps to a directory level: the
// last segment becomes a file named "<segment>.blob", the others directories
// named "<segment>.d", so "a" and "a/b" can coexist. Segments longer than 200
// bytes are replaced by their hex SHA-256 with the suffixes ".hblob" and
// ".hd", which keeps every file name within common 255-byte limits. Temporary
// files end in ".tmp" and therefore never look like objects; New removes
// those a crash left behind (see TempGrace). locks/ holds the lock files
// used to commit writes. Empty directories are not removed on Delete. File
// systems that fold case make keys differing only in case collide.
//
// # Atomicity
//
// Put streams into a temporary file in the object's directory while
// computing the SHA-256 ETag, fsyncs it, then, holding a per-key-stripe lock
// (an flock(2) lock file shared with other processes, plus a mutex), writes
// the metadata (temp file, fsync, rename) and renames the data into place and
// fsyncs the directories. The metadata records the data file's size and inode
// number; readers check the pair they opened and, on a mismatch (a commit in
// progress, or a crash between the two renames), re-read under the lock and,
// if still inconsistent, recompute the metadata from the data.
//
// # Reads
//
// A read opens the data file and fstats it, as before, but takes the
// metadata from a bounded in-memory cache while the data file and the
// sidecar (one stat) are still the files it was read from: same inode,
// size and modification time. Files are only ever replaced by a rename, so
// any Put, Delete or repair, by this process or another, changes what the
// check sees.
package fsblob

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// Scheme is the URL scheme this driver registers with package blob.
const Scheme = "file"

func init() {
	blob.Register(Scheme, func(_ context.Context, u *url.URL) (blob.Store, error) {
		root, err := RootFromURL(u)
		if err != nil {
			return nil, err
		}
		return New(root)
	})
}

var _ blob.Store = (*Store)(nil)

// Store is a blob.Store rooted at a directory. It is safe for concurrent use,
// also by several processes sharing the directory.
type Store struct {
	root  string
	locks stripedLock
	// metas caches recently read metadata (see metaCache).
	metas metaCache
	// cleaned is closed once the start-up sweep of stale temporary files
	// (cleanUp) has finished.
	cleaned chan struct{}
}

// New returns a Store rooted at root, creating the directory if needed. A
// relative root is resolved against the working directory. It removes the
// temporary files that crashed writes left behind, once older than
// TempGrace (so that another process's write in flight is left alone);
// this walks the whole store, so start-up time grows with its size.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, fmt.Errorf("fsblob: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fsblob: resolve root %q: %w", root, err)
	}
	for _, d := range []string{objectsDir, metaDir, locksDir} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("fsblob: create store directory: %w", err)
		}
	}
	s := &Store{root: abs, metas: newMetaCache(), cleaned: make(chan struct{})}
	// In the background: on a large store the walk takes a while, and
	// nothing waits for it (the files it removes are never read).
	go func() { defer close(s.cleaned); s.cleanUp(time.Now()) }()
	return s, nil
}

// Root returns the absolute root directory of the store.
func (s *Store) Root() string { return s.root }

// Close implements blob.Store. It holds no resources and always succeeds.
func (s *Store) Close() error { return nil }
