//go:build !unix

package fsblob

import "os"

// inode is unknown on this platform; metadata is matched by size only.
func inode(os.FileInfo) (uint64, bool) { return 0, false }

// syncDir is a no-op where directories cannot be fsynced.
func syncDir(string) error { return nil }
