//go:build linux

package fsblob

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f at off to
// the disk, without waiting (sync_file_range, SYNC_FILE_RANGE_WRITE), so
// that a large Put's final fsync finds most of its pages already written
// instead of writing them all then. A failure only loses the head start:
// the fsync still writes everything and reports any error.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
