package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/imagetest"
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

// A data directory whose name needs escaping in a URL still works.
func TestDataDirWithAwkwardName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my photos #1 ?100%")
	s := start(t, testConfig(dir))
	r := s.post(t, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	if n := countFiles(t, filepath.Join(dir, "originals")); n == 0 {
		t.Errorf("no original under %q", dir)
	}
}

func TestQueueRedriveMustMatchMaxAttempts(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.QueueURL = "sqlite://" + filepath.Join(cfg.DataDir, "q.db") + "?max_receive=3"
	_, err := app.New(t.Context(), cfg, app.NewLogger(io.Discard, "error"))
	if err == nil || !strings.Contains(err.Error(), "max_receive=4") {
		t.Fatalf("New = %v, want a refusal naming max_receive=4", err)
	}
	cfg.QueueURL = "sqlite://" + filepath.Join(cfg.DataDir, "q.db") + "?max_receive=4"
	a, err := app.New(t.Context(), cfg, app.NewLogger(io.Discard, "error"))
	if err != nil {
		t.Fatalf("matching queue refused: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a.Run(ctx)
}

// A presets file (with a watermark image) is used by ingest and processor
// alike: an upload naming one of its presets ends READY with its variants.
func TestPresetsFile(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.PresetsFile = imagetest.TestdataPath(t, "presets/presets.json")
	s := start(t, cfg)
	r := s.post(t, "/v1/images?preset=hero&wait=60s", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	img := r.image(t)
	if img.GetState() != pb.ImageState_IMAGE_STATE_READY || len(img.GetVariants()) != 2 {
		t.Fatalf("%s %v with %d variants, want READY with 2", img.GetState(), img.GetError(), len(img.GetVariants()))
	}
	for _, v := range img.GetVariants() {
		if v.GetName() == "retina" && (v.GetWidth() != 800 || v.GetBytes() > 150000) {
			t.Errorf("retina: %dx%d, %d bytes; want 800 wide (dpr 2) within 150000 bytes", v.GetWidth(), v.GetHeight(), v.GetBytes())
		}
	}
	if r := s.post(t, "/v1/images?preset=nosuch", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg"))); r.code != http.StatusBadRequest {
		t.Errorf("unknown preset: %d", r.code)
	}
	cfg2 := testConfig(t.TempDir())
	cfg2.PresetsFile = filepath.Join(t.TempDir(), "missing.json")
	if _, err := app.New(t.Context(), cfg2, app.NewLogger(io.Discard, "error")); err == nil || !strings.Contains(err.Error(), "presets") {
		t.Errorf("missing presets file: %v", err)
	}
}
