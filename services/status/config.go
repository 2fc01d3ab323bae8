package status

import (
	"errors"
	"flag"
	"time"
)

// Limits of a signed URL's lifetime (SignURL's expires_in and
// Config.SignedURLTTL).
const (
	MinSignedURLTTL = time.Second
	MaxSignedURLTTL = 7 * 24 * time.Hour
)

// Config of the status service.
type Config struct {
	// PollInterval bounds how late a watch stream sees a change.
	PollInterval time.Duration
	// MaxBatchImages caps the images GetBatch summarises.
	MaxBatchImages int
	// SignedURLTTL is how long SignURL's URLs work when the request gives
	// no expires_in. It is the app's signed-url-ttl setting (the same TTL
	// the response interceptor signs records with), so RegisterFlags does
	// not bind it.
	SignedURLTTL time.Duration
	// MaxWatchesPerTenant caps the watch streams (WatchImage and
	// WatchBatch together) one tenant may hold open on this process.
	MaxWatchesPerTenant int
	// MaxWatchDuration ends a watch stream with DEADLINE_EXCEEDED
	// (WATCH_EXPIRED); the client reconnects to continue.
	MaxWatchDuration time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{PollInterval: 100 * time.Millisecond, MaxBatchImages: 10000, SignedURLTTL: time.Hour,
		MaxWatchesPerTenant: 64, MaxWatchDuration: 10 * time.Minute}
}

// RegisterFlags binds the config to flags, keeping current values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.PollInterval, "status.poll-interval", c.PollInterval, "how often a watch stream re-reads the status store")
	fs.IntVar(&c.MaxBatchImages, "status.max-batch-images", c.MaxBatchImages, "most images GetBatch summarises")
	fs.IntVar(&c.MaxWatchesPerTenant, "status.max-watches-per-tenant", c.MaxWatchesPerTenant,
		"most watch streams (WatchImage and WatchBatch) one tenant may hold open on this process")
	fs.DurationVar(&c.MaxWatchDuration, "status.max-watch-duration", c.MaxWatchDuration,
		"longest a watch stream runs before it ends with WATCH_EXPIRED and the client reconnects")
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
	if c.MaxWatchesPerTenant < 1 {
		errs = append(errs, errors.New("status.max-watches-per-tenant must be at least 1"))
	}
	if c.MaxWatchDuration <= 0 || c.MaxWatchDuration > 24*time.Hour {
		errs = append(errs, errors.New("status.max-watch-duration must be positive and at most 24h"))
	}
	if c.SignedURLTTL < MinSignedURLTTL || c.SignedURLTTL > MaxSignedURLTTL {
		errs = append(errs, errors.New("signed-url-ttl must be 1s..168h"))
	}
	return errors.Join(errs...)
}
