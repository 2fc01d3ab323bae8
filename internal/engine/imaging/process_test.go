package imaging_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

func TestFitModes(t *testing.T) {
	type tc struct {
		name      string
		w, h      int
		fit       imaging.Fit
		format    imaging.Format
		wantW     int
		wantH     int
		upscale   bool
		padded    bool // contain with visible padding
		cropped   bool // cover that crops
		stretched bool // fill that changes aspect
	}
	sources := []struct {
		fixture string
		w, h    int
		cases   []tc
	}{
		{landscapeJPEG, 1600, 900, []tc{
			{name: "contain square", w: 400, h: 400, fit: imaging.FitContain, format: imaging.FormatJPEG, wantW: 400, wantH: 400, padded: true},
			{name: "contain wide box", w: 300, h: 100, fit: imaging.FitContain, format: imaging.FormatPNG, wantW: 300, wantH: 100, padded: true},
			{name: "cover square", w: 400, h: 400, fit: imaging.FitCover, format: imaging.FormatWebP, wantW: 400, wantH: 400, cropped: true},
			{name: "cover tall box", w: 100, h: 300, fit: imaging.FitCover, format: imaging.FormatJPEG, wantW: 100, wantH: 300, cropped: true},
			{name: "fill", w: 400, h: 300, fit: imaging.FitFill, format: imaging.FormatPNG, wantW: 400, wantH: 300, stretched: true},
			{name: "inside square", w: 400, h: 400, fit: imaging.FitInside, format: imaging.FormatWebP, wantW: 400, wantH: 225},
			{name: "inside tall box", w: 300, h: 1000, fit: imaging.FitInside, format: imaging.FormatJPEG, wantW: 300, wantH: 169},
			{name: "outside square", w: 400, h: 400, fit: imaging.FitOutside, format: imaging.FormatJPEG, wantW: 711, wantH: 400},
			{name: "width only", w: 320, fit: imaging.FitInside, format: imaging.FormatWebP, wantW: 320, wantH: 180},
			{name: "width only cover", w: 320, fit: imaging.FitCover, format: imaging.FormatJPEG, wantW: 320, wantH: 180},
			{name: "height only", h: 90, fit: imaging.FitInside, format: imaging.FormatPNG, wantW: 160, wantH: 90},
			{name: "height only contain", h: 90, fit: imaging.FitContain, format: imaging.FormatWebP, wantW: 160, wantH: 90},
		}},
		{portraitJPEG, 600, 1000, []tc{
			{name: "contain square", w: 200, h: 200, fit: imaging.FitContain, format: imaging.FormatPNG, wantW: 200, wantH: 200, padded: true},
			{name: "cover square", w: 200, h: 200, fit: imaging.FitCover, format: imaging.FormatJPEG, wantW: 200, wantH: 200, cropped: true},
			{name: "cover wide box", w: 300, h: 100, fit: imaging.FitCover, format: imaging.FormatWebP, wantW: 300, wantH: 100, cropped: true},
			{name: "fill", w: 150, h: 150, fit: imaging.FitFill, format: imaging.FormatWebP, wantW: 150, wantH: 150, stretched: true},
			{name: "inside square", w: 200, h: 200, fit: imaging.FitInside, format: imaging.FormatJPEG, wantW: 120, wantH: 200},
			{name: "outside square", w: 200, h: 200, fit: imaging.FitOutside, format: imaging.FormatPNG, wantW: 200, wantH: 333},
			{name: "width only", w: 300, fit: imaging.FitInside, format: imaging.FormatJPEG, wantW: 300, wantH: 500},
			{name: "height only", h: 250, fit: imaging.FitOutside, format: imaging.FormatWebP, wantW: 150, wantH: 250},
			{name: "height only fill", h: 250, fit: imaging.FitFill, format: imaging.FormatJPEG, wantW: 150, wantH: 250},
		}},
	}
	for _, s := range sources {
		src := imagetest.Fixture(t, s.fixture)
		for _, c := range s.cases {
			t.Run(s.fixture+"/"+c.name, func(t *testing.T) {
				v := imaging.Variant{Name: c.name, Width: c.w, Height: c.h, Fit: c.fit, Format: c.format, StripMetadata: true, AllowUpscale: c.upscale}
				res := process(t, src, v)
				if res.Source.Width != s.w || res.Source.Height != s.h || res.Source.Format != sniff.JPEG {
					t.Errorf("Source = %+v, want %dx%d jpeg", res.Source, s.w, s.h)
				}
				out := res.Variants[0]
				info := checkOutput(t, out, c.format, c.wantW, c.wantH)
				if info.HasMetadata() {
					t.Errorf("metadata left in a stripped output: %+v", info)
				}

				// Perceptual check against libvips' own downscale of the same region.
				var ref []byte
				switch {
				case c.padded:
					// Padding is verified below; the picture itself is compared by inside.
				case c.cropped:
					ref = reference(t, src, c.wantW, c.wantH, vips.InterestingCentre, vips.SizeBoth)
				case c.stretched:
					ref = reference(t, src, c.wantW, c.wantH, vips.InterestingNone, vips.SizeForce)
				default:
					ref = reference(t, src, c.wantW, c.wantH, vips.InterestingNone, vips.SizeBoth)
				}
				if ref != nil {
					if d := imagetest.Distance(imagetest.PHash(t, out.Data), imagetest.PHash(t, ref)); d > maxSame {
						t.Errorf("pHash distance to reference downscale = %d, want <= %d", d, maxSame)
					}
				}
				if c.padded {
					// Default background is opaque white; padding is at the
					// edges of the longer box side.
					var x, y int
					if float64(s.w)/float64(s.h) > float64(c.wantW)/float64(c.wantH) {
						x, y = c.wantW/2, 1 // bars at top and bottom
					} else {
						x, y = 1, c.wantH/2 // bars left and right
					}
					if p := pixel(t, out.Data, x, y); !near(p[:3], 255, 255, 255) {
						t.Errorf("padding pixel (%d,%d) = %v, want white", x, y, p)
					}
					if p := pixel(t, out.Data, c.wantW/2, c.wantH/2); near(p[:3], 255, 255, 255) {
						t.Errorf("centre pixel is white too: the photo is missing")
					}
				}
			})
		}
	}
}

func TestContainBackground(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	red := [4]uint8{200, 20, 30, 255}
	out := processOne(t, src, imaging.Variant{Width: 200, Height: 200, Fit: imaging.FitContain, Format: imaging.FormatJPEG, Background: red, StripMetadata: true})
	checkOutput(t, out, imaging.FormatJPEG, 200, 200)
	if p := pixel(t, out.Data, 100, 2); !near(p, 200, 20, 30) {
		t.Errorf("JPEG padding = %v, want ~(200,20,30)", p)
	}

	// Transparent padding in PNG: an alpha band is added.
	out = processOne(t, src, imaging.Variant{Width: 200, Height: 200, Fit: imaging.FitContain, Format: imaging.FormatPNG, Background: imaging.BackgroundTransparent, StripMetadata: true})
	info := checkOutput(t, out, imaging.FormatPNG, 200, 200)
	if !info.HasAlpha || info.Bands != 4 {
		t.Fatalf("transparent contain PNG has %d bands, alpha=%v; want RGBA", info.Bands, info.HasAlpha)
	}
	if p := pixel(t, out.Data, 100, 2); p[3] != 0 {
		t.Errorf("padding alpha = %v, want 0", p[3])
	}
	if p := pixel(t, out.Data, 100, 100); p[3] != 255 {
		t.Errorf("photo alpha = %v, want 255", p[3])
	}
}

func TestNeverUpscale(t *testing.T) {
	src := imagetest.Fixture(t, photoPNG) // 600x400
	cases := []struct {
		name    string
		v       imaging.Variant
		w, h    int
		upscale bool
	}{
		{"inside larger box", imaging.Variant{Width: 1200, Height: 1200, Fit: imaging.FitInside}, 600, 400, false},
		{"outside larger box", imaging.Variant{Width: 1200, Height: 1200, Fit: imaging.FitOutside}, 600, 400, false},
		{"contain larger box is not padded", imaging.Variant{Width: 800, Height: 800, Fit: imaging.FitContain}, 600, 400, false},
		{"cover larger box keeps its aspect, unscaled", imaging.Variant{Width: 1000, Height: 1000, Fit: imaging.FitCover}, 400, 400, false},
		{"cover larger in one dimension keeps its aspect", imaging.Variant{Width: 300, Height: 600, Fit: imaging.FitCover}, 200, 400, false},
		{"cover wide box larger in one dimension", imaging.Variant{Width: 700, Height: 100, Fit: imaging.FitCover}, 600, 86, false},
		{"fill caps each axis", imaging.Variant{Width: 1200, Height: 200, Fit: imaging.FitFill}, 600, 200, false},
		{"width only larger", imaging.Variant{Width: 2000, Fit: imaging.FitInside}, 600, 400, false},
		{"height only larger", imaging.Variant{Height: 2000, Fit: imaging.FitInside}, 600, 400, false},
		{"exact size is kept", imaging.Variant{Width: 600, Height: 400, Fit: imaging.FitCover}, 600, 400, false},
		{"upscale inside", imaging.Variant{Width: 1200, Height: 1200, Fit: imaging.FitInside, AllowUpscale: true}, 1200, 800, true},
		{"upscale contain pads", imaging.Variant{Width: 800, Height: 800, Fit: imaging.FitContain, AllowUpscale: true}, 800, 800, true},
		{"upscale cover", imaging.Variant{Width: 1000, Height: 1000, Fit: imaging.FitCover, AllowUpscale: true}, 1000, 1000, true},
		{"upscale width only", imaging.Variant{Width: 900, Fit: imaging.FitInside, AllowUpscale: true}, 900, 600, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.v.Name, c.v.Format, c.v.StripMetadata = "v", imaging.FormatJPEG, true
			out := processOne(t, src, c.v)
			checkOutput(t, out, imaging.FormatJPEG, c.w, c.h)
			if !c.upscale && (out.Width > 600 || out.Height > 400) {
				t.Errorf("upscaled to %dx%d without AllowUpscale", out.Width, out.Height)
			}
		})
	}
}

func TestOrientation6ComesOutUpright(t *testing.T) {
	upright := imagetest.Fixture(t, landscapeJPEG)
	rotated := imagetest.Fixture(t, orient6JPEG)

	// The fixture really is stored sideways with orientation 6.
	stored := imagetest.Decode(t, rotated)
	if stored.Width != 900 || stored.Height != 1600 || stored.Orientation != 6 {
		t.Fatalf("fixture %s is %dx%d orientation %d; want stored 900x1600, orientation 6", orient6JPEG, stored.Width, stored.Height, stored.Orientation)
	}

	info, err := imaging.Probe(rotated, imaging.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 1600 || info.Height != 900 || info.Orientation != 6 {
		t.Errorf("Probe = %+v, want upright 1600x900, orientation 6", info)
	}

	for _, strip := range []bool{true, false} {
		t.Run(fmt.Sprintf("strip=%v", strip), func(t *testing.T) {
			v := imaging.Variant{Name: "m", Width: 800, Height: 800, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: strip}
			got := processOne(t, rotated, v)
			want := processOne(t, upright, v)
			// Dimensions swapped relative to the stored pixels.
			gi := checkOutput(t, got, imaging.FormatJPEG, 800, 450)
			if gi.Orientation != 1 {
				t.Errorf("output orientation = %d, want 1 (pixels already upright; a viewer would rotate again)", gi.Orientation)
			}
			hg, hw := imagetest.PHash(t, got.Data), imagetest.PHash(t, want.Data)
			if d := imagetest.Distance(hg, hw); d > maxSame {
				t.Errorf("pHash distance rotated-source output vs upright-source output = %d, want <= %d", d, maxSame)
			}
			// Control: the metric does see a quarter turn.
			sideways := rotate90(t, want.Data)
			if d := imagetest.Distance(hg, imagetest.PHash(t, sideways)); d <= 2*maxSame {
				t.Errorf("pHash distance to a sideways copy = %d; the metric cannot tell orientation apart", d)
			}
		})
	}
}

func rotate90(t *testing.T, data []byte) []byte {
	t.Helper()
	img, err := vips.NewImageFromBuffer(data)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	if err := img.Rotate(vips.Angle90); err != nil {
		t.Fatal(short(err))
	}
	b, _, err := img.ExportPng(vips.NewPngExportParams())
	if err != nil {
		t.Fatal(short(err))
	}
	return b
}

func TestMetadata(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	in := imagetest.Decode(t, src)
	if !in.HasEXIF || !in.HasGPS || !in.HasXMP || !in.HasIPTC {
		t.Fatalf("fixture %s should carry EXIF, GPS, XMP and IPTC: %+v", landscapeJPEG, in)
	}
	for _, f := range []imaging.Format{imaging.FormatJPEG, imaging.FormatPNG, imaging.FormatWebP} {
		t.Run("strip/"+string(f), func(t *testing.T) {
			out := processOne(t, src, imaging.Variant{Width: 400, Height: 400, Fit: imaging.FitInside, Format: f, StripMetadata: true})
			info := checkOutput(t, out, f, 400, 225)
			if info.HasMetadata() || info.HasGPS {
				t.Errorf("metadata survived stripping: %+v", info)
			}
		})
	}
	t.Run("keep/jpeg", func(t *testing.T) {
		out := processOne(t, src, imaging.Variant{Width: 400, Height: 400, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: false})
		info := checkOutput(t, out, imaging.FormatJPEG, 400, 225)
		if !info.HasEXIF || !info.HasXMP || !info.HasIPTC {
			t.Errorf("metadata lost although StripMetadata=false: %+v", info)
		}
		if info.HasGPS || imagetest.EXIFField(t, out.Data, "exif-ifd3-GPSLatitude") != "" {
			t.Errorf("GPS kept: it must always be removed: %+v", info)
		}
		model := exifField(t, out.Data, "exif-ifd0-Model")
		if model == "" || !strings.Contains(model, "FixtureCam X100") {
			t.Errorf("camera model = %q, want FixtureCam X100", model)
		}
	})
	t.Run("mixed variants from one decode", func(t *testing.T) {
		res := process(t, src,
			imaging.Variant{Name: "keep", Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatJPEG},
			imaging.Variant{Name: "strip-jpeg", Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true},
			imaging.Variant{Name: "strip-png", Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true},
			imaging.Variant{Name: "strip-webp", Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatWebP, StripMetadata: true},
			imaging.Variant{Name: "keep-webp", Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatWebP},
		)
		for _, i := range []int{0, 4} {
			if k := imagetest.Decode(t, res.Variants[i].Data); k.HasGPS || !k.HasXMP || !k.HasEXIF {
				t.Errorf("%s lost EXIF or XMP, or kept GPS: %+v", res.Variants[i].Name, k)
			}
		}
		for _, out := range res.Variants[1:4] {
			if s := imagetest.Decode(t, out.Data); s.HasMetadata() || s.HasICC {
				t.Errorf("%s kept metadata: %+v", out.Name, s)
			}
		}
	})
}

func exifField(t *testing.T, data []byte, name string) string {
	t.Helper()
	img, err := vips.NewImageFromBuffer(data)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	return img.GetString(name)
}

func TestAlpha(t *testing.T) {
	src := imagetest.Fixture(t, alphaPNG) // corners fully transparent
	if in := imagetest.Decode(t, src); !in.HasAlpha {
		t.Fatalf("fixture %s has no alpha", alphaPNG)
	}
	info, err := imaging.Probe(src, imaging.Limits{})
	if err != nil || !info.HasAlpha || info.Format != sniff.PNG {
		t.Fatalf("Probe = %+v, %v; want PNG with alpha", info, err)
	}

	t.Run("jpeg flattens on white", func(t *testing.T) {
		out := processOne(t, src, imaging.Variant{Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true})
		got := checkOutput(t, out, imaging.FormatJPEG, 300, 200)
		if got.HasAlpha || got.Bands != 3 {
			t.Errorf("JPEG has %d bands (alpha %v), want 3", got.Bands, got.HasAlpha)
		}
		if p := pixel(t, out.Data, 1, 1); !near(p, 255, 255, 255) {
			t.Errorf("transparent corner flattened to %v, want white", p)
		}
		if p := pixel(t, out.Data, 150, 100); near(p, 255, 255, 255) {
			t.Errorf("opaque centre is white: %v", p)
		}
		if d := imagetest.Distance(imagetest.PHash(t, out.Data), imagetest.PHash(t, src)); d > maxSame {
			t.Errorf("pHash distance flattened JPEG vs source (flattened on white) = %d", d)
		}
	})
	t.Run("jpeg flattens on background", func(t *testing.T) {
		out := processOne(t, src, imaging.Variant{Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatJPEG, Background: [4]uint8{0, 0, 255, 255}, StripMetadata: true})
		checkOutput(t, out, imaging.FormatJPEG, 300, 200)
		if p := pixel(t, out.Data, 1, 1); !near(p, 0, 0, 255) {
			t.Errorf("transparent corner flattened to %v, want blue", p)
		}
	})
	for _, f := range []imaging.Format{imaging.FormatPNG, imaging.FormatWebP} {
		t.Run(string(f)+" keeps alpha", func(t *testing.T) {
			out := processOne(t, src, imaging.Variant{Width: 300, Height: 300, Fit: imaging.FitInside, Format: f, StripMetadata: true})
			got := checkOutput(t, out, f, 300, 200)
			if !got.HasAlpha {
				t.Fatalf("%s output lost alpha", f)
			}
			if p := pixel(t, out.Data, 1, 1); p[3] > 5 {
				t.Errorf("corner alpha = %v, want ~0", p[3])
			}
			if p := pixel(t, out.Data, 150, 100); p[3] < 250 {
				t.Errorf("centre alpha = %v, want ~255", p[3])
			}
		})
	}
}

func TestDefaultPreset(t *testing.T) {
	cases := []struct {
		fixture       string
		medW, medH    int
		largW, largH  int
		wantBaseLimit int // the decoded base must not be larger than this on its long side
	}{
		{landscapeJPEG, 800, 450, 1600, 900, 1600},
		{orient6JPEG, 800, 450, 1600, 900, 1600},
		{portraitJPEG, 480, 800, 600, 1000, 1000},
		{photoPNG, 600, 400, 600, 400, 600}, // never upscaled
		{alphaPNG, 451, 300, 451, 300, 451},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			src := imagetest.Fixture(t, c.fixture)
			var decodes [][2]int
			restore := imaging.SetDecodeHook(func(w, h int) { decodes = append(decodes, [2]int{w, h}) })
			defer restore()

			res := process(t, src, defaultPreset()...)
			if len(decodes) != 1 {
				t.Fatalf("decoded %d times for three variants, want exactly 1", len(decodes))
			}
			if bw, bh := decodes[0][0], decodes[0][1]; max(bw, bh) > c.wantBaseLimit {
				t.Errorf("decoded base is %dx%d, larger than the largest variant needs", bw, bh)
			}
			checkOutput(t, res.Variants[0], imaging.FormatPNG, 64, 64)
			checkOutput(t, res.Variants[1], imaging.FormatWebP, c.medW, c.medH)
			checkOutput(t, res.Variants[2], imaging.FormatWebP, c.largW, c.largH)
			for i, out := range res.Variants {
				if info := imagetest.Decode(t, out.Data); info.HasMetadata() {
					t.Errorf("%s: metadata not stripped: %+v", out.Name, info)
				}
				if i > 0 {
					ref := reference(t, src, out.Width, out.Height, vips.InterestingNone, vips.SizeBoth)
					if d := imagetest.Distance(imagetest.PHash(t, out.Data), imagetest.PHash(t, ref)); d > maxSame {
						t.Errorf("%s: pHash distance to reference = %d", out.Name, d)
					}
				}
			}
			ref := reference(t, src, 64, 64, vips.InterestingCentre, vips.SizeBoth)
			if d := imagetest.Distance(imagetest.PHash(t, res.Variants[0].Data), imagetest.PHash(t, ref)); d > maxSame+2 {
				t.Errorf("thumb: pHash distance to reference = %d", d)
			}
			// Content types are what the storage layer will serve.
			if res.Variants[0].ContentType != "image/png" || res.Variants[1].ContentType != "image/webp" {
				t.Errorf("content types %q, %q", res.Variants[0].ContentType, res.Variants[1].ContentType)
			}
		})
	}
}

func TestShrinkOnLoad(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG) // 1600x900
	var base [2]int
	restore := imaging.SetDecodeHook(func(w, h int) { base = [2]int{w, h} })
	defer restore()
	out := processOne(t, src, imaging.Variant{Width: 64, Height: 64, Fit: imaging.FitCover, Format: imaging.FormatPNG, StripMetadata: true})
	checkOutput(t, out, imaging.FormatPNG, 64, 64)
	// Cover 64x64 of 16:9 needs 114x64; the base must be about that, not 1600x900.
	if base[0] < 113 || base[0] > 116 || base[1] < 64 || base[1] > 66 {
		t.Errorf("decoded base %dx%d, want about 114x64", base[0], base[1])
	}
}

func TestPerceptualSimilarityAcrossFormats(t *testing.T) {
	for _, fx := range []string{landscapeJPEG, portraitJPEG, photoPNG} {
		src := imagetest.Fixture(t, fx)
		ref := reference(t, src, 256, 256, vips.InterestingNone, vips.SizeDown)
		refHash := imagetest.PHash(t, ref)
		for _, f := range []imaging.Format{imaging.FormatJPEG, imaging.FormatPNG, imaging.FormatWebP} {
			for _, q := range []int{0, 30, 95} {
				if f == imaging.FormatPNG && q != 0 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/q%d", fx, f, q), func(t *testing.T) {
					out := processOne(t, src, imaging.Variant{Width: 256, Height: 256, Fit: imaging.FitInside, Format: f, Quality: q, StripMetadata: true})
					if d := imagetest.Distance(imagetest.PHash(t, out.Data), refHash); d > maxSame {
						t.Errorf("pHash distance to reference = %d, want <= %d", d, maxSame)
					}
				})
			}
		}
	}
}

func TestQualityChangesSize(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	for _, f := range []imaging.Format{imaging.FormatJPEG, imaging.FormatWebP} {
		lo := processOne(t, src, imaging.Variant{Width: 800, Fit: imaging.FitInside, Format: f, Quality: 20, StripMetadata: true})
		def := processOne(t, src, imaging.Variant{Width: 800, Fit: imaging.FitInside, Format: f, StripMetadata: true})
		hi := processOne(t, src, imaging.Variant{Width: 800, Fit: imaging.FitInside, Format: f, Quality: 95, StripMetadata: true})
		if !(len(lo.Data) < len(def.Data) && len(def.Data) < len(hi.Data)) {
			t.Errorf("%s sizes q20=%d q0(default 80)=%d q95=%d: quality is not applied", f, len(lo.Data), len(def.Data), len(hi.Data))
		}
	}
}

func TestContextCancellation(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := imaging.Process(ctx, src, defaultPreset(), imaging.Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Process with cancelled ctx = %v, want context.Canceled", err)
	}
	var ie *imaging.Error
	if errors.As(err, &ie) {
		t.Fatalf("cancellation must not be a permanent *imaging.Error: %v", err)
	}

	// Cancelled after the decode, before the variants.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	restore := imaging.SetDecodeHook(func(int, int) { cancel() })
	defer restore()
	if _, err := imaging.Process(ctx, src, defaultPreset(), imaging.Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Process cancelled between variants = %v, want context.Canceled", err)
	}
}

func TestInvalidVariants(t *testing.T) {
	src := imagetest.Fixture(t, photoPNG)
	bad := []imaging.Variant{
		{Name: "no size", Fit: imaging.FitInside, Format: imaging.FormatJPEG},
		{Name: "negative", Width: -1, Height: 10, Fit: imaging.FitInside, Format: imaging.FormatJPEG},
		{Name: "zero fit", Width: 10, Height: 10, Format: imaging.FormatJPEG},
		{Name: "bad format", Width: 10, Height: 10, Fit: imaging.FitInside, Format: "bmp"},
		{Name: "quality", Width: 10, Height: 10, Fit: imaging.FitInside, Format: imaging.FormatJPEG, Quality: 101},
		{Name: "box absurdly large", Width: 70000, Height: 10, Fit: imaging.FitInside, Format: imaging.FormatJPEG},
		{Name: "upscaled output too large", Width: 29000, Height: 29000, Fit: imaging.FitFill, Format: imaging.FormatJPEG, AllowUpscale: true},
	}
	for _, v := range bad {
		t.Run(v.Name, func(t *testing.T) {
			_, err := imaging.Process(context.Background(), src, []imaging.Variant{v}, imaging.Limits{})
			if !errors.Is(err, imaging.ErrInvalidVariant) {
				t.Fatalf("err = %v, want ErrInvalidVariant", err)
			}
		})
	}
}

func TestNoVariantsProbesOnly(t *testing.T) {
	res, err := imaging.Process(context.Background(), imagetest.Fixture(t, photoPNG), nil, imaging.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source.Width != 600 || res.Source.Height != 400 || len(res.Variants) != 0 {
		t.Errorf("result = %+v", res.Source)
	}
}

func TestConcurrentProcess(t *testing.T) {
	fixtures := []string{landscapeJPEG, orient6JPEG, portraitJPEG, photoPNG, alphaPNG}
	srcs := make([][]byte, len(fixtures))
	for i, f := range fixtures {
		srcs[i] = imagetest.Fixture(t, f)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(fixtures))
	for round := 0; round < 2; round++ {
		for i := range fixtures {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res, err := imaging.Process(context.Background(), srcs[i], defaultPreset(), imaging.Limits{})
				if err != nil {
					errs <- fmt.Errorf("%s: %w", fixtures[i], err)
					return
				}
				if res.Variants[0].Width != 64 || res.Variants[0].Height != 64 {
					errs <- fmt.Errorf("%s: thumb %dx%d", fixtures[i], res.Variants[0].Width, res.Variants[0].Height)
				}
			}(i)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
