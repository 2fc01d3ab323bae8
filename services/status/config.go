package status

import (
	"errors"
	"flag"
	"time"
)

// Config of the status service.
type Config struct {
	// PollInterval bounds how late a watch stream sees a change.
	PollInterval time.Duration
	// MaxBatchImages caps the images GetBatch summarises.
	MaxBatchImages int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{PollInterval: 100 * time.Millisecond, MaxBatchImages: 10000}
}

// RegisterFlags binds the config to flags, keeping current values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.PollInterval, "status.poll-interval", c.PollInterval, "how often a watch stream re-reads the status store")
	fs.IntVar(&c.MaxBatchImages, "status.max-batch-images", c.MaxBatchImages, "most images GetBatch summarises")
}

// Validate reports a bad config.
func (c *Config) Validate() error {
	var errs []error
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > time.Minute {
		errs = append(errs, errors.New("status.poll-interval must be 10ms..1m"))
	}
	if c.MaxBatchImages < 1 {
		errs = append(errs, errors.New("status.max-batch-images must be at least 1"))
	}
	return errors.Join(errs...)
}
