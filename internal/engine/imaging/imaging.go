// Package imaging is imagepipe's image processing engine, built on libvips
// through govips.
//
// It takes an uploaded image, as bytes (Process) or as a file libvips reads
// itself (ProcessFile: only the file's ends come into the Go heap), and a
// list of already-validated Variant options and returns the encoded
// variants. The flow for Process is:
//
//  1. sniff the container format from the magic bytes; anything outside the
//     allowlist (JPEG, PNG, WebP, GIF, TIFF, HEIF/AVIF when libvips can load
//     them) is rejected before any libvips loader sees the data, and so is a
//     polyglot (an image that is also a ZIP or PDF);
//  2. read the header only and enforce Limits: pixels, width, height, frames
//     of an animation and their total pixels (no pixel is decoded for an
//     oversized image, so a decompression bomb costs nothing);
//  3. decode once, with shrink-on-load, to the size the largest variant needs,
//     applying the EXIF orientation (all eight) and converting to 8-bit sRGB
//     through the embedded ICC profile (CMYK, Adobe RGB, 16-bit, grey);
//     loaders are told to fail on truncated or corrupt data; an animated GIF
//     or WebP is decoded with all its frames when a variant keeps the
//     animation;
//  4. compute the extras (BlurHash, dominant colour, perceptual hash) from
//     the decoded image;
//  5. derive every variant from that one decoded image — crop, resize, fit
//     and gravity (including smart crops), effects, watermark, background —
//     and encode it (JPEG, PNG, WebP, AVIF, GIF, or the smaller of AVIF and
//     WebP for FormatAuto; lowering the quality to meet MaxBytes), several
//     variants at once (Config.Parallelism); metadata is stripped except
//     what the variant keeps, and GPS never survives.
//
// libvips 8.14 / govips v2.16.0 pitfalls handled here:
//   - a thumbnail (or any sequential) pipeline can be read only once: the
//     decoded image, shrunk copies and watermarks are evaluated into memory
//     (an uncompressed TIFF) before anything reads them twice (smart crop,
//     FormatAuto, MaxBytes);
//   - vips_resize over a random-access image has no line caches and is ~3x
//     slower for large reductions: small variants and the extras are made
//     by vips_thumbnail over that TIFF instead (decoded.shrunk);
//   - vips_thumbnail imports CMYK with the relative intent only and silently
//     falls back to a built-in profile when the embedded one lacks it:
//     CMYK is decoded separately, with the perceptual intent (loadCMYK);
//   - webpsave ignores "strip" and govips never lets it write the ICC
//     profile: webp.go rewrites the container;
//   - govips' SetBlob is broken: metadata is filtered by removing fields,
//     never by rewriting blobs (so an XMP packet with GPS is dropped whole,
//     and PNG gets no EXIF);
//   - govips' ExtractArea and Embed act on every page of a multi-page
//     image: frames are cut from a single-page copy;
//   - govips cannot pass AVIF effort 0; libaom is slow and memory-hungry
//     (Limits.MaxAVIFPixels);
//   - govips errors carry Go stack traces (cleanCause strips them).
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
	"cmp"
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

	// Parallelism is how many variants of one image are rendered and
	// encoded at once. Encoding dominates (WebP and AVIF especially), and
	// variants are independent once the source is decoded, so this cuts the
	// latency of one image roughly by the number of cores; memory grows by
	// one variant's working set per extra slot. 0 means 1: like
	// Concurrency, it pays only when there are idle cores, and a worker pool
	// that fills the cores makes more images per second without it.
	Parallelism int

	// MallocArenas caps glibc's malloc arenas (libvips threads otherwise
	// each get their own and keep freed memory): measured over 36 corpus
	// images, peak RSS fell from 645 to 292 MiB at 2 arenas with no CPU
	// change. 0 means 2; < 0 leaves glibc's default. MALLOC_ARENA_MAX in
	// the environment wins.
	MallocArenas int

	// AllowUntrustedLoaders leaves libvips' "untrusted" loaders (ImageMagick,
	// PDF, SVG, matrix, …) enabled. By default Startup sets
	// VIPS_BLOCK_UNTRUSTED so that they are blocked process-wide, as a
	// second line of defence behind the magic-byte allowlist.
	AllowUntrustedLoaders bool
}

var (
	config    Config // the Config of the first Startup
	startOnce sync.Once
	stateMu   sync.RWMutex
	stopped   bool
)

// Startup initialises libvips once per process; later calls are no-ops (the
// first Config wins). It must not be called after Shutdown.
func Startup(cfg Config) {
	startOnce.Do(func() {
		config = cfg
		if !cfg.AllowUntrustedLoaders {
			if _, set := os.LookupEnv("VIPS_BLOCK_UNTRUSTED"); !set {
				// Read by vips_init (libvips >= 8.13).
				_ = os.Setenv("VIPS_BLOCK_UNTRUSTED", "1")
			}
		}
		if _, set := os.LookupEnv("MALLOC_ARENA_MAX"); !set && cfg.MallocArenas >= 0 {
			limitMallocArenas(cmp.Or(cfg.MallocArenas, 2))
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
		started.Store(true)
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
