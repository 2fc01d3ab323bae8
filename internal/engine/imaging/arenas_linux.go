//go:build linux && cgo

package imaging

// #include <malloc.h>
import "C"

// limitMallocArenas caps glibc's malloc arenas (see Config.MallocArenas).
func limitMallocArenas(n int) { C.mallopt(C.M_ARENA_MAX, C.int(n)) }
