package e2e_test

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

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
	if _, err := app.New(t.Context(), cfg2, logging.New(io.Discard, "error")); err == nil || !strings.Contains(err.Error(), "presets") {
		t.Errorf("missing presets file: %v", err)
	}
}
