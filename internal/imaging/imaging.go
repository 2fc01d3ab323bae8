// Package imaging is imagepipe's image processing engine, built on libvips
// through govips.
//
// It takes the bytes of an uploaded image and a list of already-validated
// Variant options and returns the encoded variants. The flow for Process is:
//
//  1. sniff the container format from the magic bytes; anything outside the
//     allowlist (JPEG, PNG, WebP, GIF, TIFF, HEIF/AVIF when libvips can load
//     them) is rejected before any libvips loader sees the data;
//  2. read the header only and enforce Limits (no pixel is decoded for an
//     oversized image);
//  3. decode once, with shrink-on-load, to the size the largest variant needs,
//     applying the EXIF orientation and converting to sRGB; loaders are told
//     to fail on truncated or corrupt data;
//  4. derive every variant from that one decoded image and encode it.
//
// Errors that are the input's fault are *Error values with a Code (all of them
// permanent: retrying cannot help). Any other error is an internal or
// environmental failure and callers treat it as transient.
//
// Call Startup once at program start (Process and Probe call it with a zero
// Config if it has not been called) and Shutdown at exit. Process and Probe
// are safe for concurrent use.
package imaging

import (
	"os"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"
)

// Config tunes libvips for a worker pool. The zero value is a good default.
type Config struct {
	// Concurrency is the number of libvips worker threads used by one
	// pipeline. The worker pool provides parallelism across jobs, so the
	// default (0) means 1. Values < 0 also mean 1.
	Concurrency int

	// CacheMaxOps and CacheMaxMemBytes size the libvips operation cache.
	// Uploads are all different, so the cache cannot help; 0 (the default)
	// disables it, which keeps memory flat.
	CacheMaxOps      int
	CacheMaxMemBytes int

	// Logger receives libvips and govips messages of level warning and
	// above (level is "warning", "critical" or "error"). nil discards them.
	// libvips is chatty about corrupt input ("error in tile …", "premature
	// end of JPEG file"), so do not log these at error level.
	Logger func(level, domain, msg string)

	// AllowUntrustedLoaders leaves libvips' "untrusted" loaders (ImageMagick,
	// PDF, SVG, matrix, …) enabled. By default Startup sets
	// VIPS_BLOCK_UNTRUSTED so that they are blocked process-wide, as a
	// second line of defence behind the magic-byte allowlist.
	AllowUntrustedLoaders bool
}

var (
	startOnce sync.Once
	stateMu   sync.RWMutex
	stopped   bool
)

// Startup initialises libvips once per process; later calls are no-ops (the
// first Config wins). It must not be called after Shutdown.
func Startup(cfg Config) {
	startOnce.Do(func() {
		if !cfg.AllowUntrustedLoaders {
			if _, set := os.LookupEnv("VIPS_BLOCK_UNTRUSTED"); !set {
				// Read by vips_init (libvips >= 8.13).
				_ = os.Setenv("VIPS_BLOCK_UNTRUSTED", "1")
			}
		}
		logger := cfg.Logger
		vips.LoggingSettings(func(domain string, level vips.LogLevel, msg string) {
			if logger != nil {
				logger(levelName(level), domain, msg)
			}
		}, vips.LogLevelWarning)

		conc := cfg.Concurrency
		if conc <= 0 {
			conc = 1
		}
		vips.Startup(&vips.Config{
			ConcurrencyLevel: conc,
			MaxCacheFiles:    0,
			MaxCacheMem:      max(cfg.CacheMaxMemBytes, 0),
			MaxCacheSize:     max(cfg.CacheMaxOps, 0),
		})
	})
}

// Shutdown releases libvips. After it, Process and Probe fail with a
// (transient) error, and libvips cannot be started again in this process.
func Shutdown() {
	Startup(Config{}) // make sure a later Startup cannot run vips_init again
	stateMu.Lock()
	defer stateMu.Unlock()
	if stopped {
		return
	}
	stopped = true
	vips.Shutdown()
}

func levelName(l vips.LogLevel) string {
	switch l {
	case vips.LogLevelError:
		return "error"
	case vips.LogLevelCritical:
		return "critical"
	case vips.LogLevelWarning:
		return "warning"
	case vips.LogLevelMessage:
		return "message"
	case vips.LogLevelInfo:
		return "info"
	default:
		return "debug"
	}
}
