// Package faultblob wraps a blob.Store so that tests can fail or stall its
// writes: wrapped around the variants store, it stands for a public store
// that is down or a worker that hangs mid-job, without a hook in the
// processor itself.
package faultblob

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// Fault decides the fate of one Put: a non-nil error fails it before
// anything is written; blocking stalls it.
type Fault func(ctx context.Context, key string) error

// Store is a blob.Store whose Put first asks Fault.
type Store struct {
	blob.Store
	Fault Fault
}

var _ blob.Store = (*Store)(nil)

// Wrap returns s with f in front of every Put.
func Wrap(s blob.Store, f Fault) *Store { return &Store{Store: s, Fault: f} }

// Put runs the fault, then the wrapped store's Put.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) (blob.Attrs, error) {
	if err := s.Fault(ctx, key); err != nil {
		return blob.Attrs{}, err
	}
	return s.Store.Put(ctx, key, r, opts)
}

// ImageID is the image a variant key belongs to ("{id}/{variant}").
func ImageID(key string) string {
	id, _, _ := strings.Cut(key, "/")
	return id
}

// FirstPerImage returns a fault that fails the first write of each image
// (one attempt's worth of a transient failure) and passes the rest.
func FirstPerImage(err error) Fault {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		id := ImageID(key)
		if seen[id] {
			return nil
		}
		seen[id] = true
		return err
	}
}
