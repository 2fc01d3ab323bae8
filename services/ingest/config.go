// Package ingest implements IngestService: it streams an upload into the
// private originals store (which hashes it) while size-checking it, refuses what
// is plainly not an image before storing anything, records the image and
// queues its processing job.
package ingest

import (
	"errors"
	"flag"
	"time"
)

// Config of the ingest service.
type Config struct {
	// MaxBytes is the largest original accepted.
	MaxBytes int64
	// MaxWait caps UploadMetadata.wait.
	MaxWait time.Duration
	// PollInterval is how often a waiting upload re-reads the record.
	PollInterval time.Duration
	// PresetsOnly refuses inline specs from callers without the admin
	// scope: they may only name a preset, as imgproxy's
	// IMGPROXY_ONLY_PRESETS. The processor applies the same setting to
	// Reprocess (processor.Config.PresetsOnly).
	PresetsOnly bool
	// IdleTimeout is how long an Upload stream may go without a message
	// (the metadata or the next chunk) before it fails with
	// DEADLINE_EXCEEDED, storing nothing.
	IdleTimeout time.Duration
	// ResumableExpiry is how long a resumable upload may stay unfinished;
	// then it is removed with its bytes (ResumableSweep says how often
	// the cleaner looks).
	ResumableExpiry, ResumableSweep time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxBytes: 50 << 20, MaxWait: 60 * time.Second, PollInterval: 50 * time.Millisecond,
		IdleTimeout: 30 * time.Second, ResumableExpiry: 24 * time.Hour, ResumableSweep: 10 * time.Minute}
}

// RegisterFlags binds the config to flags, keeping current values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&c.MaxBytes, "ingest.max-bytes", c.MaxBytes, "largest original accepted, in bytes")
	fs.DurationVar(&c.MaxWait, "ingest.max-wait", c.MaxWait, "longest an upload may wait for processing to finish")
	fs.DurationVar(&c.IdleTimeout, "ingest.idle-timeout", c.IdleTimeout, "longest an upload stream may go without sending a message before it fails")
	fs.DurationVar(&c.ResumableExpiry, "ingest.resumable-expiry", c.ResumableExpiry, "how long a resumable (tus) upload may stay unfinished before it is removed with its bytes")
	fs.DurationVar(&c.ResumableSweep, "ingest.resumable-sweep", c.ResumableSweep, "how often expired resumable uploads are looked for and removed")
	// Not prefixed: one setting for ingest and reprocessing alike.
	fs.BoolVar(&c.PresetsOnly, "presets-only", c.PresetsOnly,
		"refuse inline specs from callers without the admin scope, as imgproxy's IMGPROXY_ONLY_PRESETS")
}

// Validate reports a bad config.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBytes <= 0 {
		errs = append(errs, errors.New("ingest.max-bytes must be positive"))
	}
	if c.MaxWait < 0 {
		errs = append(errs, errors.New("ingest.max-wait must not be negative"))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, errors.New("ingest poll interval must be positive"))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("ingest.idle-timeout must be positive"))
	}
	if c.ResumableExpiry <= 0 {
		errs = append(errs, errors.New("ingest.resumable-expiry must be positive"))
	}
	if c.ResumableSweep <= 0 {
		errs = append(errs, errors.New("ingest.resumable-sweep must be positive"))
	}
	return errors.Join(errs...)
}
