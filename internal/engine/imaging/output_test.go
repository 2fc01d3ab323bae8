package imaging_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

func intp(i int) *int { return &i }

// jpegSOF returns the frame marker of a JPEG: 0xC0 baseline, 0xC2
// progressive.
func jpegSOF(t *testing.T, b []byte) byte {
	t.Helper()
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			t.Fatalf("lost JPEG marker sync at %d", i)
		}
		m := b[i+1]
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			return m
		}
		i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
	}
	t.Fatal("no SOF marker")
	return 0
}

func vipsField(t *testing.T, data []byte, name string) string {
	t.Helper()
	img, err := vips.NewImageFromBuffer(data)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	return img.GetString(name)
}

func TestJPEGOptions(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	v := imaging.Variant{Name: "v", Width: 400, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true}
	base := processOne(t, src, v)
	if m := jpegSOF(t, base.Data); m != 0xC0 && m != 0xC1 {
		t.Errorf("default JPEG has SOF %#x, want baseline", m)
	}
	v.JPEG.Progressive = true
	if m := jpegSOF(t, processOne(t, src, v).Data); m != 0xC2 {
		t.Errorf("progressive JPEG has SOF %#x, want 0xC2", m)
	}
	for sub, want := range map[imaging.Subsampling]string{imaging.Subsampling420: "4:2:0", imaging.Subsampling444: "4:4:4", imaging.SubsamplingAuto: "4:2:0"} {
		v.JPEG.Subsampling = sub
		out := processOne(t, src, v)
		if got := vipsField(t, out.Data, "jpeg-chroma-subsample"); got != want {
			t.Errorf("subsampling %d: %q, want %q", sub, got, want)
		}
	}
	if out := processOne(t, src, imaging.Variant{Width: 400, Fit: imaging.FitInside, Format: imaging.FormatJPEG, Quality: 95, StripMetadata: true}); vipsField(t, out.Data, "jpeg-chroma-subsample") != "4:4:4" {
		t.Errorf("auto subsampling at q95 is not 4:4:4")
	}
	if base.Quality != imaging.DefaultQuality {
		t.Errorf("Output.Quality = %d, want %d", base.Quality, imaging.DefaultQuality)
	}
}

func TestPNGOptions(t *testing.T) {
	src := imagetest.Fixture(t, photoPNG)
	v := imaging.Variant{Name: "v", Width: 300, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true}
	ihdr := func(b []byte) (depth, colourType byte) { return b[24], b[25] }
	plain := processOne(t, src, v)
	if d, ct := ihdr(plain.Data); d != 8 || ct != 2 || plain.Quality != 0 {
		t.Errorf("plain PNG: depth %d colour type %d quality %d, want 8-bit RGB, lossless", d, ct, plain.Quality)
	}
	v.PNG.Compression = intp(0)
	none := processOne(t, src, v)
	v.PNG.Compression = intp(9)
	best := processOne(t, src, v)
	if !(len(none.Data) > len(plain.Data) && len(plain.Data) >= len(best.Data)) {
		t.Errorf("compression 0/default/9 sizes %d/%d/%d", len(none.Data), len(plain.Data), len(best.Data))
	}
	v.PNG = imaging.PNGOptions{Palette: true}
	pal := processOne(t, src, v)
	if d, ct := ihdr(pal.Data); d != 8 || ct != 3 || len(pal.Data) >= len(plain.Data) || pal.Quality != 100 {
		t.Errorf("palette PNG: depth %d colour type %d, %d bytes (plain %d), quality %d", d, ct, len(pal.Data), len(plain.Data), pal.Quality)
	}
	if d := imagetest.Distance(imagetest.PHash(t, pal.Data), imagetest.PHash(t, plain.Data)); d > maxSame {
		t.Errorf("palette PNG: pHash distance %d", d)
	}
	for colours, depth := range map[int]byte{2: 1, 4: 2, 16: 4, 256: 8} {
		v.PNG.Colours = colours
		out := processOne(t, src, v)
		if d, ct := ihdr(out.Data); d != depth || ct != 3 {
			t.Errorf("%d colours: depth %d colour type %d, want depth %d palette", colours, d, ct, depth)
		}
	}
}

func TestWebPAndAVIFOptions(t *testing.T) {
	src := imagetest.Fixture(t, photoPNG)
	v := imaging.Variant{Name: "v", Width: 300, Fit: imaging.FitInside, Format: imaging.FormatWebP, StripMetadata: true}
	lossy := processOne(t, src, v)
	v.WebP.Lossless = true
	lossless := processOne(t, src, v)
	if !bytes.Contains(lossless.Data[:64], []byte("VP8L")) || bytes.Contains(lossy.Data[:64], []byte("VP8L")) || lossless.Quality != 0 {
		t.Errorf("lossless WebP is not VP8L (or lossy is), quality %d", lossless.Quality)
	}
	v.WebP = imaging.WebPOptions{Effort: intp(0)}
	fast := processOne(t, src, v)
	v.WebP = imaging.WebPOptions{Effort: intp(6)}
	slow := processOne(t, src, v)
	if bytes.Equal(fast.Data, slow.Data) {
		t.Error("WebP effort 0 and 6 give the same file: effort is not applied")
	}

	a := imaging.Variant{Name: "v", Width: 300, Fit: imaging.FitInside, Format: imaging.FormatAVIF, StripMetadata: true}
	def := processOne(t, src, a)
	info := checkOutput(t, def, imaging.FormatAVIF, 300, 200)
	if info.Bands != 3 || def.Quality != imaging.DefaultAVIFQuality {
		t.Errorf("AVIF: %d bands, quality %d", info.Bands, def.Quality)
	}
	if d := imagetest.Distance(imagetest.PHash(t, def.Data), imagetest.PHash(t, lossy.Data)); d > maxSame {
		t.Errorf("AVIF vs WebP of the same variant: pHash distance %d", d)
	}
	a.AVIF.Effort = intp(1)
	e1 := processOne(t, src, a)
	a.AVIF.Effort = intp(8)
	e8 := processOne(t, src, a)
	if bytes.Equal(e1.Data, e8.Data) {
		t.Error("AVIF effort 1 and 8 give the same file: effort is not applied")
	}
	a.AVIF.Effort, a.Quality = nil, 20
	if lo := processOne(t, src, a); len(lo.Data) >= len(def.Data) {
		t.Errorf("AVIF q20 (%d bytes) not smaller than q50 (%d)", len(lo.Data), len(def.Data))
	}
}

func TestGIFOutput(t *testing.T) {
	out := processOne(t, imagetest.Fixture(t, landscapeJPEG), imaging.Variant{Width: 200, Height: 200, Fit: imaging.FitCover, Format: imaging.FormatGIF, StripMetadata: true})
	checkOutput(t, out, imaging.FormatGIF, 200, 200)
	if out.Frames != 1 || out.Quality != 0 {
		t.Errorf("still GIF: %d frames, quality %d", out.Frames, out.Quality)
	}
	ref := reference(t, imagetest.Fixture(t, landscapeJPEG), 200, 200, vips.InterestingCentre, vips.SizeBoth)
	if d := imagetest.Distance(imagetest.PHash(t, out.Data), imagetest.PHash(t, ref)); d > maxSame {
		t.Errorf("GIF: pHash distance %d", d)
	}
}

// opaqueRGBA is the coffee photo with an alpha band that is 255 everywhere.
func opaqueRGBA(t *testing.T) []byte {
	t.Helper()
	img, err := vips.NewImageFromBuffer(imagetest.Fixture(t, photoPNG))
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	if err := img.AddAlpha(); err != nil {
		t.Fatal(short(err))
	}
	b, _, err := img.ExportPng(&vips.PngExportParams{Compression: 1})
	if err != nil {
		t.Fatal(short(err))
	}
	return b
}

func TestAutoFormat(t *testing.T) {
	photo := imagetest.Fixture(t, landscapeJPEG)
	auto := imaging.Variant{Name: "auto", Width: 400, Fit: imaging.FitInside, Format: imaging.FormatAuto, StripMetadata: true}
	res := process(t, photo, auto,
		imaging.Variant{Name: "avif", Width: 400, Fit: imaging.FitInside, Format: imaging.FormatAVIF, StripMetadata: true},
		imaging.Variant{Name: "webp", Width: 400, Fit: imaging.FitInside, Format: imaging.FormatWebP, StripMetadata: true},
	)
	a, w := res.Variants[1], res.Variants[2]
	want, wantLen := imaging.FormatAVIF, len(a.Data)
	if len(w.Data) < len(a.Data) {
		want, wantLen = imaging.FormatWebP, len(w.Data)
	}
	got := res.Variants[0]
	checkOutput(t, got, want, 400, 225)
	if len(got.Data) != wantLen {
		t.Errorf("auto chose %s of %d bytes; AVIF %d, WebP %d", got.Format, len(got.Data), len(a.Data), len(w.Data))
	}
	// Quality on WebP's scale; AVIF gets 5/8 of it.
	auto.Quality = 64
	if out := processOne(t, photo, auto); (out.Format == imaging.FormatAVIF && out.Quality != 40) || (out.Format == imaging.FormatWebP && out.Quality != 64) {
		t.Errorf("auto q64 → %s q%d", out.Format, out.Quality)
	}

	cases := []struct {
		name string
		src  []byte
		v    imaging.Variant
		want []imaging.Format
		alp  bool
	}{
		{"visible alpha", imagetest.Fixture(t, alphaPNG), imaging.Variant{Width: 200, Fit: imaging.FitInside}, []imaging.Format{imaging.FormatWebP}, true},
		{"transparent padding", photo, imaging.Variant{Width: 200, Height: 200, Fit: imaging.FitContain, Background: imaging.BackgroundTransparent}, []imaging.Format{imaging.FormatWebP}, true},
		{"opaque alpha band is a photo", opaqueRGBA(t), imaging.Variant{Width: 200, Fit: imaging.FitInside}, []imaging.Format{imaging.FormatAVIF, imaging.FormatWebP}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.v.Name, c.v.Format, c.v.StripMetadata = "v", imaging.FormatAuto, true
			out := processOne(t, c.src, c.v)
			if out.Format != c.want[0] && (len(c.want) == 1 || out.Format != c.want[1]) {
				t.Fatalf("auto → %s, want %v", out.Format, c.want)
			}
			info := imagetest.Decode(t, out.Data)
			if string(info.Format) != string(out.Format) || info.HasAlpha != c.alp || out.ContentType != out.Format.ContentType() {
				t.Errorf("auto output %+v (content type %s), alpha want %v", info, out.ContentType, c.alp)
			}
		})
	}
}

func TestMaxBytes(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	for _, f := range []imaging.Format{imaging.FormatJPEG, imaging.FormatWebP, imaging.FormatAVIF, imaging.FormatAuto} {
		t.Run(string(f), func(t *testing.T) {
			v := imaging.Variant{Name: "v", Width: 400, Fit: imaging.FitInside, Format: f, StripMetadata: true, AVIF: imaging.AVIFOptions{Effort: intp(2)}}
			free := processOne(t, src, v)
			limit := len(free.Data) * 6 / 10
			v.MaxBytes = limit
			out := processOne(t, src, v)
			if len(out.Data) > limit {
				t.Fatalf("%d bytes, over the %d limit", len(out.Data), limit)
			}
			if out.Quality >= free.Quality || out.Quality < imaging.MinQuality {
				t.Errorf("quality %d (unconstrained %d): want lowered, >= %d", out.Quality, free.Quality, imaging.MinQuality)
			}
			// The highest quality that fits: one step up does not.
			w := v
			w.MaxBytes, w.Quality = 0, out.Quality+1
			if f == imaging.FormatAuto {
				w.Format = out.Format
				if out.Format == imaging.FormatAVIF {
					w.Quality = 0 // AVIF quality is not on the requested scale; skip
				}
			}
			if w.Quality != 0 {
				if up := processOne(t, src, w); len(up.Data) <= limit && up.Quality < free.Quality {
					t.Errorf("quality %d would have fitted too (%d bytes)", up.Quality, len(up.Data))
				}
			}
			if d := imagetest.Distance(imagetest.PHash(t, out.Data), imagetest.PHash(t, free.Data)); d > maxSame {
				t.Errorf("pHash distance %d to the unconstrained variant", d)
			}
		})
	}
	// Within the limit at once: untouched.
	v := imaging.Variant{Name: "v", Width: 100, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true, MaxBytes: 1 << 20}
	if out := processOne(t, src, v); out.Quality != imaging.DefaultQuality {
		t.Errorf("quality lowered to %d although the limit was met", out.Quality)
	}
	// Unreachable: a permanent error naming the code.
	v.MaxBytes = 200
	_, err := imaging.Process(context.Background(), src, []imaging.Variant{v}, imaging.Limits{})
	var ie *imaging.Error
	if !errors.As(err, &ie) || ie.Code != imaging.CodeMaxBytesUnreachable {
		t.Fatalf("max bytes 200: %v, want %s", err, imaging.CodeMaxBytesUnreachable)
	}
	if want := fmt.Sprintf("quality %d", imaging.MinQuality); !bytes.Contains([]byte(ie.Error()), []byte(want)) {
		t.Errorf("message %q does not say %q", ie.Error(), want)
	}
}

// TestEverythingTogether renders feature-heavy variants from every kind of
// source. FormatAuto and MaxBytes read a variant's pipeline several times,
// which fails ("out of order read") if any part of it (decoded image, shrunk
// copy, watermark) is a read-once libvips pipeline.
func TestEverythingTogether(t *testing.T) {
	wm := logo(t)
	crop := imaging.Rect{X: 10, Y: 10, Width: 100, Height: 60}
	variants := []imaging.Variant{
		{Name: "auto-max", Width: 120, Height: 120, Fit: imaging.FitCover, Gravity: imaging.GravitySmartAttention, Format: imaging.FormatAuto,
			MaxBytes: 20000, Blur: 0.5, Sharpen: 1, Watermark: &imaging.Watermark{Image: wm, Opacity: 0.5, RelativeWidth: 0.3, Margin: 2}, StripMetadata: true},
		{Name: "jpeg-max", Width: 90, Height: 90, Fit: imaging.FitContain, Gravity: imaging.GravityNorth, Format: imaging.FormatJPEG, MaxBytes: 4000,
			Watermark: &imaging.Watermark{Image: wm, Position: imaging.GravityCentre}, KeepCopyright: true, StripMetadata: true},
		{Name: "crop-webp", Width: 50, Fit: imaging.FitInside, Crop: &crop, Format: imaging.FormatWebP, KeepICC: true, StripMetadata: true, MaxBytes: 5000},
		{Name: "focal-avif", Width: 64, Height: 32, Fit: imaging.FitCover, Gravity: imaging.GravityFocalPoint, Focal: imaging.Point{X: 0.8, Y: 0.2},
			Format: imaging.FormatAVIF, AVIF: imaging.AVIFOptions{Effort: intp(1)}, MaxBytes: 20000, StripMetadata: false},
		{Name: "gif-pad", Width: 70, Height: 70, Fit: imaging.FitContain, Format: imaging.FormatGIF, Background: imaging.BackgroundTransparent, StripMetadata: true},
		{Name: "png-pal", Width: 80, Fit: imaging.FitFill, Height: 40, Format: imaging.FormatPNG, PNG: imaging.PNGOptions{Palette: true, Colours: 16}, KeepICC: true, StripMetadata: true},
	}
	for _, fx := range []string{landscapeJPEG, "orient-7.jpg", alphaPNG, "cmyk.jpg", "adobergb.jpg", "rgb16.png", "grey.jpg", "anim.gif", "anim.webp"} {
		t.Run(fx, func(t *testing.T) {
			res := process(t, imagetest.Fixture(t, fx), variants...)
			for i, out := range res.Variants {
				info := imagetest.Decode(t, out.Data)
				if string(info.Format) != string(out.Format) || out.Width != info.Width || out.Height != info.PageHeight {
					t.Errorf("%s: Output %s %dx%d, bytes %+v", out.Name, out.Format, out.Width, out.Height, info)
				}
				if m := variants[i].MaxBytes; m > 0 && len(out.Data) > m {
					t.Errorf("%s: %d bytes > %d", out.Name, len(out.Data), m)
				}
				if info.HasGPS {
					t.Errorf("%s: GPS", out.Name)
				}
			}
		})
	}
}

func TestAVIFPixelLimit(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG) // 400x225 variants: 90000 pixels
	lim := imaging.Limits{MaxAVIFPixels: 89999}
	_, err := imaging.Process(context.Background(), src, []imaging.Variant{{Name: "a", Width: 400, Fit: imaging.FitInside, Format: imaging.FormatAVIF, StripMetadata: true}}, lim)
	var ie *imaging.Error
	if !errors.As(err, &ie) || ie.Code != imaging.CodeTooManyPixels {
		t.Fatalf("AVIF over the limit: %v", err)
	}
	// Auto falls back to WebP instead of failing.
	res, err := imaging.Process(context.Background(), src, []imaging.Variant{{Name: "a", Width: 400, Fit: imaging.FitInside, Format: imaging.FormatAuto, StripMetadata: true}}, lim)
	if err != nil || res.Variants[0].Format != imaging.FormatWebP {
		t.Fatalf("auto over the AVIF limit: %v", err)
	}
	lim.MaxAVIFPixels = 90000
	if _, err := imaging.Process(context.Background(), src, []imaging.Variant{{Name: "a", Width: 400, Fit: imaging.FitInside, Format: imaging.FormatAVIF, StripMetadata: true}}, lim); err != nil {
		t.Fatalf("AVIF at the limit: %v", err)
	}
}
