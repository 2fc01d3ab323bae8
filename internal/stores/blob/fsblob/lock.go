package fsblob

import (
	"hash/fnv"
	"sync"
)

const lockStripes = 64

// stripedLock serialises commits per key stripe within the process; on
// platforms with flock(2), lockFile extends that to other processes.
type stripedLock struct {
	mu [lockStripes]sync.Mutex
}

// lock takes the commit lock for the object at rel and returns its release.
func (s *Store) lock(rel string) (unlock func(), err error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(rel))
	stripe := h.Sum32() % lockStripes
	mu := &s.locks.mu[stripe]
	mu.Lock()
	release, err := lockFile(s.root, stripe)
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	return func() {
		release()
		mu.Unlock()
	}, nil
}
