//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package fsblob

import "os"

// tryLock does nothing where flock(2) is unavailable: writers of one
// partial must take turns themselves.
func tryLock(*os.File) error { return nil }
