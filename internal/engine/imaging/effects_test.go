package imaging_test

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// edges is the mean Sobel edge strength of an image: lower when blurred,
// higher when sharpened.
func edges(t *testing.T, data []byte) float64 {
	t.Helper()
	img, err := vips.NewImageFromBuffer(data)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	if err := img.ToColorSpace(vips.InterpretationBW); err != nil {
		t.Fatal(short(err))
	}
	if err := img.Sobel(); err != nil {
		t.Fatal(short(err))
	}
	m, err := img.Average()
	if err != nil {
		t.Fatal(short(err))
	}
	return m
}

func TestBlurAndSharpen(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	v := imaging.Variant{Name: "v", Width: 400, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true}
	plain := processOne(t, src, v)
	v.Blur = 1
	soft := processOne(t, src, v)
	v.Blur = 4
	softer := processOne(t, src, v)
	v.Blur, v.Sharpen = 0, 1.5
	sharp := processOne(t, src, v)
	ep, es, ess, esh := edges(t, plain.Data), edges(t, soft.Data), edges(t, softer.Data), edges(t, sharp.Data)
	if !(ess < es && es < ep && ep < esh) {
		t.Errorf("edge strength blur 4 %.2f, blur 1 %.2f, plain %.2f, sharpened %.2f: want increasing", ess, es, ep, esh)
	}
	for _, out := range []imaging.Output{soft, sharp} {
		checkOutput(t, out, imaging.FormatPNG, 400, 225)
		if d := imagetest.Distance(imagetest.PHash(t, out.Data), imagetest.PHash(t, plain.Data)); d > maxSame {
			t.Errorf("pHash distance %d from the plain variant", d)
		}
	}
	// With alpha: blurred on premultiplied alpha, so the transparent corners
	// do not bleed white (or black) into the cat; alpha stays.
	alpha := imagetest.Fixture(t, alphaPNG)
	out := processOne(t, alpha, imaging.Variant{Width: 300, Fit: imaging.FitInside, Format: imaging.FormatPNG, Blur: 3, Sharpen: 1, StripMetadata: true})
	if info := checkOutput(t, out, imaging.FormatPNG, 300, 200); !info.HasAlpha {
		t.Error("blur lost the alpha channel")
	}
	if p := imagetest.Pixel(t, out.Data, 0, 0); p[3] > 5 {
		t.Errorf("corner alpha %v after blur", p[3])
	}
}

// rgba decodes a PNG with the standard library (independently of libvips).
func rgba(t *testing.T, data []byte) *image.NRGBA {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewNRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

// changed returns the bounding box of the pixels that differ by more than
// tol between a and b, and the mean difference inside it.
func changed(a, b *image.NRGBA, tol int) (image.Rectangle, float64) {
	box := image.Rectangle{}
	sum, n := 0.0, 0
	for y := a.Rect.Min.Y; y < a.Rect.Max.Y; y++ {
		for x := a.Rect.Min.X; x < a.Rect.Max.X; x++ {
			i := a.PixOffset(x, y)
			d := 0
			for c := 0; c < 3; c++ {
				d = max(d, int(math.Abs(float64(a.Pix[i+c])-float64(b.Pix[i+c]))))
			}
			if d > tol {
				box = box.Union(image.Rect(x, y, x+1, y+1))
				sum += float64(d)
				n++
			}
		}
	}
	if n == 0 {
		return box, 0
	}
	return box, sum / float64(n)
}

func logo(t *testing.T) *imaging.WatermarkImage {
	t.Helper()
	wm, err := imaging.NewWatermarkImage(imagetest.File(t, "presets/logo.png"))
	if err != nil {
		t.Fatal(err)
	}
	return wm
}

func TestWatermark(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	wm := logo(t)
	if w, h := wm.Size(); w != 120 || h != 80 {
		t.Fatalf("logo is %dx%d, want 120x80", w, h)
	}
	base := imaging.Variant{Name: "v", Width: 800, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true}
	plain := rgba(t, processOne(t, src, base).Data) // 800x450

	cases := []struct {
		name string
		wm   imaging.Watermark
		box  image.Rectangle // where the watermark must be (within a few pixels)
	}{
		{"default south-east, margin 10", imaging.Watermark{Margin: 10}, image.Rect(800-10-120, 450-10-80, 790, 440)},
		{"north-west, margin 0", imaging.Watermark{Position: imaging.GravityNorthWest}, image.Rect(0, 0, 120, 80)},
		{"centre", imaging.Watermark{Position: imaging.GravityCentre}, image.Rect(340, 185, 460, 265)},
		{"south, quarter width", imaging.Watermark{Position: imaging.GravitySouth, Margin: 20, RelativeWidth: 0.25}, image.Rect(300, 450-20-133, 500, 430)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.wm.Image = wm
			v := base
			v.Watermark = &c.wm
			got := rgba(t, processOne(t, src, v).Data)
			box, _ := changed(plain, got, 24)
			if box.Empty() {
				t.Fatal("no watermark")
			}
			if !box.In(c.box.Inset(-2)) {
				t.Errorf("watermark at %v, want within %v", box, c.box)
			}
			if box.Dx() < c.box.Dx()/3 || box.Dy() < c.box.Dy()/3 {
				t.Errorf("watermark covers %v, too small for %v", box, c.box)
			}
			if info := imagetest.Decode(t, processOne(t, src, v).Data); info.HasAlpha {
				t.Error("watermarking an opaque variant added an alpha channel")
			}
		})
	}

	// Opacity scales the change.
	full := base
	full.Watermark = &imaging.Watermark{Image: wm, Position: imaging.GravityNorthWest}
	half := base
	half.Watermark = &imaging.Watermark{Image: wm, Position: imaging.GravityNorthWest, Opacity: 0.4}
	_, dFull := changed(plain, rgba(t, processOne(t, src, full).Data), 24)
	_, dHalf := changed(plain, rgba(t, processOne(t, src, half).Data), 24)
	if !(dHalf > 0 && dHalf < dFull*0.75) {
		t.Errorf("mean change at opacity 1: %.1f, at 0.4: %.1f", dFull, dHalf)
	}

	// A watermark never spills over a small variant: it is shrunk to fit.
	small := imaging.Variant{Name: "s", Width: 64, Height: 64, Fit: imaging.FitCover, Format: imaging.FormatPNG, StripMetadata: true,
		Watermark: &imaging.Watermark{Image: wm, Margin: 4}}
	out := processOne(t, src, small)
	checkOutput(t, out, imaging.FormatPNG, 64, 64)

	// JPEG output of a watermarked variant and an animated one work too.
	jpeg := base
	jpeg.Format, jpeg.Watermark = imaging.FormatJPEG, &imaging.Watermark{Image: wm}
	checkOutput(t, processOne(t, src, jpeg), imaging.FormatJPEG, 800, 450)

	// Bad watermark files are refused like uploads.
	for _, bad := range [][]byte{nil, []byte("not an image"), imagetest.File(t, "hostile/png-bomb.png")} {
		if _, err := imaging.NewWatermarkImage(bad); !errors.As(err, new(*imaging.Error)) {
			t.Errorf("NewWatermarkImage(%d bytes) = %v, want an *imaging.Error", len(bad), err)
		}
	}
}

// TestWideBlur: a wide blur (done on a shrunk copy) looks like libvips'
// direct Gaussian blur of the same sigma, and is quick on a large variant.
func TestWideBlur(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG)
	plain := processOne(t, src, imaging.Variant{Width: 800, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true})
	for _, sigma := range []float64{12, 30} {
		out := processOne(t, src, imaging.Variant{Width: 800, Fit: imaging.FitInside, Format: imaging.FormatPNG, Blur: sigma, StripMetadata: true})
		checkOutput(t, out, imaging.FormatPNG, 800, 450)
		ref, err := vips.NewImageFromBuffer(plain.Data)
		if err != nil {
			t.Fatal(short(err))
		}
		if err := ref.GaussianBlur(sigma); err != nil {
			t.Fatal(short(err))
		}
		refPNG, _, err := ref.ExportPng(&vips.PngExportParams{Compression: 1})
		ref.Close()
		if err != nil {
			t.Fatal(short(err))
		}
		a, b := rgba(t, out.Data), rgba(t, refPNG)
		// Mean absolute difference per channel, away from the borders
		// (edge handling differs).
		sum, n := 0.0, 0
		for y := 60; y < 390; y++ {
			for x := 60; x < 740; x++ {
				i := a.PixOffset(x, y)
				for c := 0; c < 3; c++ {
					sum += math.Abs(float64(a.Pix[i+c]) - float64(b.Pix[i+c]))
					n++
				}
			}
		}
		if mad := sum / float64(n); mad > 3 {
			t.Errorf("sigma %v: mean difference %.2f from a direct Gaussian blur", sigma, mad)
		}
		if e, ep := edges(t, out.Data), edges(t, plain.Data); e > ep/3 {
			t.Errorf("sigma %v: edge strength %.2f (plain %.2f): not blurred", sigma, e, ep)
		}
	}
	// Wide blurs cost about the same whatever the sigma.
	big := imaging.Variant{Width: 1600, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true}
	big.Blur = 100
	start := time.Now()
	processOne(t, src, big)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("sigma 100 on 1600x900 took %v", d)
	}
}
