package ingest_test

import (
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/services/ingest"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ingest.Config)
		errs   []string // substrings of the error; none for a valid config
	}{
		{"Default", func(*ingest.Config) {}, nil},
		{"NoWait", func(c *ingest.Config) { c.MaxWait = 0 }, nil},
		{"ZeroMaxBytes", func(c *ingest.Config) { c.MaxBytes = 0 }, []string{"ingest.max-bytes"}},
		{"NegativeMaxBytes", func(c *ingest.Config) { c.MaxBytes = -1 }, []string{"ingest.max-bytes"}},
		{"NegativeMaxWait", func(c *ingest.Config) { c.MaxWait = -time.Second }, []string{"ingest.max-wait"}},
		{"ZeroPollInterval", func(c *ingest.Config) { c.PollInterval = 0 }, []string{"poll interval"}},
		{"ZeroIdleTimeout", func(c *ingest.Config) { c.IdleTimeout = 0 }, []string{"ingest.idle-timeout"}},
		{"AllAtOnce", func(c *ingest.Config) { *c = ingest.Config{MaxWait: -1} },
			[]string{"ingest.max-bytes", "ingest.max-wait", "poll interval"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ingest.DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error about %v", tc.errs)
			}
			for _, s := range tc.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() = %q, want it to mention %q", err, s)
				}
			}
			// New refuses the config too.
			if svc, err := ingest.New(cfg, ingest.Deps{Log: slog.New(slog.DiscardHandler)}); err == nil || svc != nil {
				t.Errorf("New with a bad config = %v, %v; want an error", svc, err)
			}
		})
	}
}

func TestConfigFlags(t *testing.T) {
	cfg := ingest.DefaultConfig()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil || cfg != ingest.DefaultConfig() {
		t.Fatalf("no flags: %+v, %v; want the defaults", cfg, err)
	}
	if err := fs.Parse([]string{"-ingest.max-bytes=1048576", "-ingest.max-wait=5s", "-presets-only"}); err != nil {
		t.Fatal(err)
	}
	want := ingest.DefaultConfig()
	want.MaxBytes, want.MaxWait, want.PresetsOnly = 1<<20, 5*time.Second, true
	if cfg != want {
		t.Errorf("after flags: %+v, want %+v", cfg, want)
	}
}

func TestConfigIdleTimeoutFlag(t *testing.T) {
	cfg := ingest.DefaultConfig()
	if cfg.IdleTimeout != 30*time.Second {
		t.Errorf("default idle timeout %s, want 30s", cfg.IdleTimeout)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-ingest.idle-timeout=5s"}); err != nil || cfg.IdleTimeout != 5*time.Second {
		t.Errorf("-ingest.idle-timeout=5s: %s, %v; want 5s", cfg.IdleTimeout, err)
	}
}
