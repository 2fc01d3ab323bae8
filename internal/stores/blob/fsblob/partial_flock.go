//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package fsblob

import (
	"os"
	"syscall"
)

// tryLock takes an exclusive flock on f without waiting; closing f
// releases it.
func tryLock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
