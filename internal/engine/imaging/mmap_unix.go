//go:build unix

package imaging

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the first size bytes of f read-only. A blob store replaces
// a file by renaming another over it and never truncates one, so the
// mapping cannot lose its pages (SIGBUS) while it is read.
func mapFile(f *os.File, size int64) ([]byte, func(), error) {
	if size == 0 {
		return nil, func() {}, nil
	}
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("%d bytes are too many to map", size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	return b, func() { _ = syscall.Munmap(b) }, nil
}
