//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package fsblob

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile takes an exclusive flock on the stripe's lock file. Closing the
// file releases the lock.
func lockFile(root string, stripe uint32) (func(), error) {
	name := filepath.Join(root, locksDir, fmt.Sprintf("%02x.lock", stripe))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fsblob: open lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("fsblob: lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
