package imaging

import (
	"sync/atomic"

	"github.com/davidbyttow/govips/v2/vips"
)

// MemStats are libvips' own counters of what it holds, process-wide:
// memory it allocated for pixels and buffers (vips_tracked_get_mem and
// its high-water mark), its open allocations and open files. Memory of
// the libraries it calls (libjpeg, libwebp, libheif) is not tracked;
// resident memory covers that.
type MemStats struct {
	Mem, MemHighwater int64
	Allocs, Files     int64
}

// started is set once Startup has initialised libvips.
var started atomic.Bool

// active counts the pipelines (Process, ProcessFile) running now.
var active atomic.Int64

// Active is how many images are being processed now (Process and
// ProcessFile calls in progress), process-wide.
func Active() int64 { return active.Load() }

// ReadMemStats reads libvips' counters; all zero before Startup and after
// Shutdown. govips reads them (vips_tracked_get_*) under libvips' own lock,
// so it is cheap and safe while images are processed.
func ReadMemStats() MemStats {
	stateMu.RLock()
	defer stateMu.RUnlock()
	if !started.Load() || stopped {
		return MemStats{}
	}
	var s vips.MemoryStats
	vips.ReadVipsMemStats(&s)
	return MemStats{Mem: s.Mem, MemHighwater: s.MemHigh, Allocs: s.Allocs, Files: s.Files}
}
