package app_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
)

func TestLoadEnvReportsEveryBadValue(t *testing.T) {
	cfg := app.DefaultConfig()
	env := map[string]string{
		"IMAGEPIPE_WORKERS":          "many",
		"IMAGEPIPE_DEFAULT_WAIT":     "a while",
		"IMAGEPIPE_MAX_UPLOAD_BYTES": "1024",
		"IMAGEPIPE_TARGET":           "status",
	}
	err := cfg.LoadEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "IMAGEPIPE_WORKERS") || !strings.Contains(err.Error(), "IMAGEPIPE_DEFAULT_WAIT") {
		t.Fatalf("LoadEnv = %v, want both bad variables named", err)
	}
	if cfg.Ingest.MaxBytes != 1024 || cfg.Target != "status" {
		t.Errorf("good values not applied: max bytes %d, target %q", cfg.Ingest.MaxBytes, cfg.Target)
	}
}

func TestVerifyRejectsBadConfig(t *testing.T) {
	cases := map[string]func(c *app.Config){
		"unknown target":           func(c *app.Config) { c.Target = "everything" },
		"bad address":              func(c *app.Config) { c.GRPCAddr = "9090" },
		"same originals/variants":  func(c *app.Config) { c.OriginalsURL = "file:///x"; c.VariantsURL = "file:///x" },
		"store URL without scheme": func(c *app.Config) { c.QueueURL = "/var/lib/queue.db" },
		"zero workers":             func(c *app.Config) { c.Processor.Workers = 0 },
		"bad public URL":           func(c *app.Config) { c.PublicURL = "cdn.example.com" },
		"bad log level":            func(c *app.Config) { c.LogLevel = "chatty" },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := app.DefaultConfig()
			mut(&cfg)
			if err := app.Verify(cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
	if err := app.Verify(app.DefaultConfig()); err != nil {
		t.Errorf("default config refused: %v", err)
	}
}

func TestQueueRedriveMustMatchMaxAttempts(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.QueueURL = "sqlite://" + filepath.Join(cfg.DataDir, "q.db") + "?max_receive=3"
	_, err := app.New(t.Context(), cfg, logging.New(io.Discard, "error"))
	if err == nil || !strings.Contains(err.Error(), "max_receive=4") {
		t.Fatalf("New = %v, want a refusal naming max_receive=4", err)
	}
	cfg.QueueURL = "sqlite://" + filepath.Join(cfg.DataDir, "q.db") + "?max_receive=4"
	a, err := app.New(t.Context(), cfg, logging.New(io.Discard, "error"))
	if err != nil {
		t.Fatalf("matching queue refused: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a.Run(ctx)
}
