// Package processor runs the processing workers (queue -> original ->
// libvips -> variants -> READY) and implements ProcessorService.
package processor

import (
	"errors"
	"flag"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
)

// Config of the processor.
type Config struct {
	// Workers is how many jobs run at once. The default is one per core
	// (GOMAXPROCS): jobs are single-threaded (JobThreads), so the pool is
	// what uses the cores.
	Workers int
	// JobThreads is how many threads one job uses: libvips worker threads
	// and variants rendered at once (imaging.Config Concurrency and
	// Parallelism). 1, the default, gives the most images per core; raise
	// it only when Workers < cores and one image's latency matters more
	// (measured on 2 cores: 1 worker with 2 threads finishes an image ~25 %
	// sooner but makes ~30 % fewer images per second than 2 workers with 1).
	JobThreads int
	// Visibility is how long a received job stays hidden from other workers;
	// a heartbeat extends it while the job runs.
	Visibility time.Duration
	// PollWait is the long-poll wait of one receive.
	PollWait time.Duration
	// JobTimeout bounds one attempt.
	JobTimeout time.Duration
	// MaxAttempts is how many times a job is tried. The queue's max receive
	// count must be MaxAttempts+1: the attempt that reaches MaxAttempts marks
	// the image FAILED when it fails, one more delivery marks it FAILED when
	// the last attempt was cut short, and the queue then dead-letters it.
	MaxAttempts int
	// ShutdownGrace is how long jobs in flight may run on after shutdown
	// begins before they are abandoned to redelivery.
	ShutdownGrace time.Duration
	// RetryBackoff is the delay before the second attempt; it doubles.
	RetryBackoff time.Duration
	// PublicURL is the base of variant URLs: <PublicURL>/a/<id>/<variant>.
	PublicURL string
	// Limits apply to every original before its pixels are decoded.
	Limits imaging.Limits
	// MaxOriginalBytes caps the originals read. Direct uploads are capped
	// by their POST policy and uploads through ingest by ingest, both with
	// ingest's limit; this is the same value, checked again in case the
	// two configurations differ.
	MaxOriginalBytes int64
	// TempDir is where an original from a store without local files (S3)
	// is streamed for libvips to read; empty means os.TempDir(). Each file
	// lives as long as its job, at most MaxOriginalBytes per worker.
	TempDir string
	// PresetsOnly makes Reprocess refuse inline specs from callers without
	// the admin scope. It has no flag of its own: it is ingest's
	// -presets-only (ingest.Config.PresetsOnly), one setting for both.
	PresetsOnly bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Workers:          runtime.GOMAXPROCS(0),
		JobThreads:       1,
		Visibility:       60 * time.Second,
		PollWait:         5 * time.Second,
		JobTimeout:       2 * time.Minute,
		MaxAttempts:      3,
		RetryBackoff:     2 * time.Second,
		ShutdownGrace:    20 * time.Second,
		PublicURL:        "http://localhost:8080",
		MaxOriginalBytes: 50 << 20,
		Limits:           imaging.Limits{MaxPixels: 50_000_000, MaxWidth: 30000, MaxHeight: 30000},
	}
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "processor.workers", c.Workers, "concurrent processing jobs (default: one per core)")
	fs.IntVar(&c.JobThreads, "processor.job-threads", c.JobThreads, "threads per job: libvips threads and variants at once")
	fs.DurationVar(&c.Visibility, "processor.visibility", c.Visibility, "queue visibility timeout of a job; extended while it runs")
	fs.DurationVar(&c.JobTimeout, "processor.job-timeout", c.JobTimeout, "deadline of one processing attempt")
	fs.IntVar(&c.MaxAttempts, "processor.max-attempts", c.MaxAttempts, "attempts before an image is FAILED; the queue's max receive count must be this + 1")
	fs.DurationVar(&c.RetryBackoff, "processor.retry-backoff", c.RetryBackoff, "delay before retrying a transient failure (doubles each attempt)")
	fs.StringVar(&c.TempDir, "processor.temp-dir", c.TempDir, "directory for originals streamed from a remote store while they are processed (default: the system's temporary directory)")
	fs.Int64Var(&c.Limits.MaxPixels, "processor.max-pixels", c.Limits.MaxPixels, "largest original, in pixels, checked before decoding")
}

// Validate reports a bad config.
func (c *Config) Validate() error {
	var errs []error
	if c.Workers < 1 || c.Workers > 256 {
		errs = append(errs, errors.New("processor.workers must be 1..256"))
	}
	if c.JobThreads < 1 || c.JobThreads > 64 {
		errs = append(errs, errors.New("processor.job-threads must be 1..64"))
	}
	if c.Visibility < 2*time.Second {
		errs = append(errs, errors.New("processor.visibility must be at least 2s"))
	}
	if c.JobTimeout <= 0 {
		errs = append(errs, errors.New("processor.job-timeout must be positive"))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, errors.New("processor.max-attempts must be at least 1"))
	}
	if c.RetryBackoff < 0 {
		errs = append(errs, errors.New("processor.retry-backoff must not be negative"))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("processor shutdown grace must not be negative"))
	}
	if c.MaxOriginalBytes <= 0 {
		errs = append(errs, errors.New("processor max original bytes must be positive"))
	}
	if fi, err := os.Stat(c.TempDir); c.TempDir != "" && (err != nil || !fi.IsDir()) {
		errs = append(errs, errors.New("processor.temp-dir must be an existing directory"))
	}
	if c.PollWait <= 0 {
		errs = append(errs, errors.New("processor poll wait must be positive"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("public URL must be an absolute http(s) URL"))
	}
	return errors.Join(errs...)
}
