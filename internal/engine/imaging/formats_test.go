package imaging_test

import (
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// convert re-encodes a fixture into another container with libvips, after
// an optional transformation.
func convert(t *testing.T, src []byte, prep func(*vips.ImageRef) error, export func(*vips.ImageRef) ([]byte, *vips.ImageMetadata, error)) []byte {
	t.Helper()
	img, err := vips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	if prep != nil {
		if err := prep(img); err != nil {
			t.Fatalf("prepare: %s", short(err))
		}
	}
	b, _, err := export(img)
	if err != nil {
		t.Skipf("libvips here cannot write this format: %s", short(err))
	}
	return b
}

func TestInputFormats(t *testing.T) {
	photo := imagetest.Fixture(t, photoPNG) // 600x400
	cases := []struct {
		name   string
		format sniff.Format
		make   func(t *testing.T) []byte
	}{
		{"png", sniff.PNG, func(t *testing.T) []byte { return photo }},
		{"jpeg", sniff.JPEG, func(t *testing.T) []byte {
			return convert(t, photo, nil, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
				return i.ExportJpeg(vips.NewJpegExportParams())
			})
		}},
		{"progressive jpeg", sniff.JPEG, func(t *testing.T) []byte {
			return convert(t, photo, nil, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
				return i.ExportJpeg(&vips.JpegExportParams{Quality: 85, Interlace: true})
			})
		}},
		{"webp", sniff.WebP, func(t *testing.T) []byte {
			return convert(t, photo, nil, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
				return i.ExportWebp(vips.NewWebpExportParams())
			})
		}},
		{"webp lossless", sniff.WebP, func(t *testing.T) []byte {
			return convert(t, photo, nil, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
				return i.ExportWebp(&vips.WebpExportParams{Lossless: true, ReductionEffort: 1})
			})
		}},
		{"gif", sniff.GIF, func(t *testing.T) []byte {
			return convert(t, photo, nil, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
				return i.ExportGIF(&vips.GifExportParams{Effort: 1, Bitdepth: 8})
			})
		}},
		{"tiff", sniff.TIFF, func(t *testing.T) []byte {
			return convert(t, photo, nil, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
				p := vips.NewTiffExportParams()
				return i.ExportTiff(p)
			})
		}},
		{"heif", sniff.HEIF, func(t *testing.T) []byte {
			return convert(t, photo, nil, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
				return i.ExportHeif(vips.NewHeifExportParams())
			})
		}},
		{"avif", sniff.AVIF, func(t *testing.T) []byte {
			return convert(t, photo, nil, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
				p := vips.NewAvifExportParams()
				p.Effort = 0 // fastest (libvips: 0 fastest .. 9 slowest)
				return i.ExportAvif(p)
			})
		}},
		{"16-bit png", sniff.PNG, func(t *testing.T) []byte {
			return convert(t, photo, func(i *vips.ImageRef) error { return i.ToColorSpace(vips.InterpretationRGB16) },
				func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
					return i.ExportPng(&vips.PngExportParams{Compression: 1, Bitdepth: 16})
				})
		}},
		{"greyscale jpeg", sniff.JPEG, func(t *testing.T) []byte {
			return convert(t, photo, func(i *vips.ImageRef) error { return i.ToColorSpace(vips.InterpretationBW) },
				func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
					return i.ExportJpeg(vips.NewJpegExportParams())
				})
		}},
		{"cmyk jpeg with profile", sniff.JPEG, func(t *testing.T) []byte {
			return convert(t, photo, func(i *vips.ImageRef) error { return i.TransformICCProfileWithFallback("cmyk", "srgb") },
				func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
					return i.ExportJpeg(vips.NewJpegExportParams())
				})
		}},
	}
	ref := reference(t, photo, 300, 300, vips.InterestingNone, vips.SizeBoth)
	refHash := imagetest.PHash(t, ref)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.make(t)
			if got := sniff.Detect(src); got != c.format {
				t.Fatalf("test input sniffs as %q, want %q", got, c.format)
			}
			res := process(t, src,
				imaging.Variant{Name: "jpg", Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true},
				imaging.Variant{Name: "png", Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true},
			)
			if res.Source.Format != c.format || res.Source.Width != 600 || res.Source.Height != 400 {
				t.Errorf("Source = %+v", res.Source)
			}
			for _, out := range res.Variants {
				info := checkOutput(t, out, out.Format, 300, 200)
				if info.Bands != 3 {
					t.Errorf("%s: %d bands, want 3 (8-bit sRGB)", out.Name, info.Bands)
				}
				if d := imagetest.Distance(imagetest.PHash(t, out.Data), refHash); d > maxSame {
					t.Errorf("%s: pHash distance to reference = %d", out.Name, d)
				}
			}
			if c.name == "greyscale jpeg" {
				return // colour is gone by construction
			}
			// Colour survives (CMYK, 16-bit): per-band means close to libvips'
			// own full-size colour conversion of the same input.
			refMean := bandMeans(t, toSRGBPNG(t, src))
			got := bandMeans(t, res.Variants[1].Data)
			for b := range got {
				if d := got[b] - refMean[b]; d > 6 || d < -6 {
					t.Errorf("band %d mean %.1f, reference %.1f: colours are off", b, got[b], refMean[b])
				}
			}
		})
	}
}

func bandMeans(t *testing.T, data []byte) []float64 {
	t.Helper()
	img, err := vips.NewImageFromBuffer(data)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	out := make([]float64, 3)
	for b := 0; b < 3; b++ {
		band, err := img.ExtractBandToImage(b, 1)
		if err != nil {
			t.Fatal(short(err))
		}
		out[b], err = band.Average()
		band.Close()
		if err != nil {
			t.Fatal(short(err))
		}
	}
	return out
}

// toSRGBPNG converts an encoded image to 8-bit sRGB PNG at full size with
// libvips directly (embedded ICC profile honoured), as a colour reference.
func toSRGBPNG(t *testing.T, src []byte) []byte {
	t.Helper()
	return convert(t, src, func(i *vips.ImageRef) error {
		if i.HasICCProfile() {
			if err := i.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
				return err
			}
		}
		if i.Interpretation() != vips.InterpretationSRGB || i.BandFormat() != vips.BandFormatUchar {
			return i.ToColorSpace(vips.InterpretationSRGB)
		}
		return nil
	}, func(i *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
		return i.ExportPng(vips.NewPngExportParams())
	})
}
