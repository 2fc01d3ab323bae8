package imaging_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

func TestMain(m *testing.M) {
	imaging.Startup(imaging.Config{})
	code := m.Run()
	imaging.Shutdown()
	os.Exit(code)
}

// Fixtures (see testdata/photos/README.md).
const (
	landscapeJPEG = "dandelion.jpg"          // 1600x900, EXIF+GPS+XMP+IPTC, orientation 1
	orient6JPEG   = "dandelion-orient6.jpg"  // stored 900x1600, orientation 6
	portraitJPEG  = "dandelion-portrait.jpg" // 600x1000
	photoPNG      = "coffee.png"             // 600x400
	alphaPNG      = "chelsea-alpha.png"      // 451x300 RGBA, transparent corners
)

// defaultPreset mirrors the built-in "default" preset (defined in the spec
// package): thumb 64x64 cover PNG, medium inside 800x800 WebP q80, large
// inside 1600x1600 WebP q80, never upscaled, metadata stripped.
func defaultPreset() []imaging.Variant {
	return []imaging.Variant{
		{Name: "thumb", Width: 64, Height: 64, Fit: imaging.FitCover, Format: imaging.FormatPNG, StripMetadata: true},
		{Name: "medium", Width: 800, Height: 800, Fit: imaging.FitInside, Format: imaging.FormatWebP, Quality: 80, StripMetadata: true},
		{Name: "large", Width: 1600, Height: 1600, Fit: imaging.FitInside, Format: imaging.FormatWebP, Quality: 80, StripMetadata: true},
	}
}

func process(t *testing.T, src []byte, vs ...imaging.Variant) *imaging.Result {
	t.Helper()
	res, err := imaging.Process(context.Background(), src, vs, imaging.Limits{})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if len(res.Variants) != len(vs) {
		t.Fatalf("Process returned %d variants, want %d", len(res.Variants), len(vs))
	}
	for i, out := range res.Variants {
		if out.Name != vs[i].Name {
			t.Fatalf("variant %d is %q, want %q (order must be kept)", i, out.Name, vs[i].Name)
		}
	}
	return res
}

func processOne(t *testing.T, src []byte, v imaging.Variant) imaging.Output {
	t.Helper()
	if v.Name == "" {
		v.Name = "v"
	}
	return process(t, src, v).Variants[0]
}

// checkOutput asserts that an Output is what it claims: the bytes decode as
// the declared format with the declared size.
func checkOutput(t *testing.T, out imaging.Output, wantFormat imaging.Format, w, h int) imagetest.Info {
	t.Helper()
	if out.Format != wantFormat || out.ContentType != wantFormat.ContentType() {
		t.Errorf("%s: format %q / %q, want %q / %q", out.Name, out.Format, out.ContentType, wantFormat, wantFormat.ContentType())
	}
	if out.Width != w || out.Height != h {
		t.Errorf("%s: Output says %dx%d, want %dx%d", out.Name, out.Width, out.Height, w, h)
	}
	info := imagetest.Decode(t, out.Data)
	if string(info.Format) != string(wantFormat) {
		t.Errorf("%s: bytes sniff as %q, want %q", out.Name, info.Format, wantFormat)
	}
	if info.Width != w || info.Height != h {
		t.Errorf("%s: bytes decode as %dx%d, want %dx%d", out.Name, info.Width, info.Height, w, h)
	}
	return info
}

// reference makes an independent downscale of src with libvips' own
// thumbnail (EXIF-rotated), as a PNG, for perceptual comparison.
func reference(t *testing.T, src []byte, w, h int, crop vips.Interesting, size vips.Size) []byte {
	t.Helper()
	img, err := vips.LoadThumbnailFromBuffer(src, w, h, crop, size, nil)
	if err != nil {
		t.Fatalf("reference thumbnail: %v", short(err))
	}
	defer img.Close()
	b, _, err := img.ExportPng(vips.NewPngExportParams())
	if err != nil {
		t.Fatalf("reference export: %v", short(err))
	}
	return b
}

// pixel returns the band values of the pixel at x, y of an encoded image.
func pixel(t *testing.T, data []byte, x, y int) []float64 {
	t.Helper()
	img, err := vips.NewImageFromBuffer(data)
	if err != nil {
		t.Fatalf("load for pixel: %v", short(err))
	}
	defer img.Close()
	p, err := img.GetPoint(x, y)
	if err != nil {
		t.Fatalf("GetPoint(%d,%d): %v", x, y, short(err))
	}
	return p
}

func near(got []float64, want ...float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if d := got[i] - want[i]; d > 6 || d < -6 {
			return false
		}
	}
	return true
}

func short(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// maxSame is the largest pHash distance accepted for "the same picture";
// different photographs are typically 25-40 apart.
const maxSame = 8
