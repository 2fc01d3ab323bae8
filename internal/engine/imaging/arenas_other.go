//go:build !linux || !cgo

package imaging

// limitMallocArenas is a no-op where glibc's mallopt is not available.
func limitMallocArenas(int) {}
