package imaging_test

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// solidPNG is a w x h PNG: colour a, with colour b in the right fraction
// bFrac of the width.
func solidPNG(t *testing.T, w, h int, a, b [3]float64, bFrac float64) []byte {
	t.Helper()
	img, err := vips.Black(w, h)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	if err := img.BandJoinConst([]float64{0, 0}); err != nil {
		t.Fatal(short(err))
	}
	if err := img.Linear([]float64{1, 1, 1}, a[:]); err != nil {
		t.Fatal(short(err))
	}
	if bFrac > 0 {
		if err := img.DrawRect(vips.ColorRGBA{R: uint8(b[0]), G: uint8(b[1]), B: uint8(b[2]), A: 255},
			w-int(float64(w)*bFrac), 0, int(float64(w)*bFrac), h, true); err != nil {
			t.Fatal(short(err))
		}
	}
	if err := img.Cast(vips.BandFormatUchar); err != nil {
		t.Fatal(short(err))
	}
	out, err := img.CopyChangingInterpretation(vips.InterpretationSRGB)
	if err != nil {
		t.Fatal(short(err))
	}
	defer out.Close()
	png, _, err := out.ExportPng(&vips.PngExportParams{Compression: 1})
	if err != nil {
		t.Fatal(short(err))
	}
	return png
}

var blurHashRE = regexp.MustCompile(`^[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]{28}$`)

const base83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

// blurHashDC decodes the average colour (sRGB) of a BlurHash.
func blurHashDC(t *testing.T, h string) [3]float64 {
	t.Helper()
	v := 0
	for _, c := range h[2:6] {
		v = v*83 + strings.IndexRune(base83, c)
	}
	return [3]float64{float64(v >> 16), float64(v >> 8 & 255), float64(v & 255)}
}

// decodeBlurHash renders a BlurHash at w x h (packed sRGB), following the
// reference decoder: an independent check of the AC components.
func decodeBlurHash(t *testing.T, h string, w, hh int) []float64 {
	t.Helper()
	dec := func(s string) int {
		v := 0
		for _, c := range s {
			v = v*83 + strings.IndexRune(base83, c)
		}
		return v
	}
	lin := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	size := dec(h[:1])
	nx, ny := size%9+1, size/9+1
	if len(h) != 4+2*nx*ny {
		t.Fatalf("BlurHash %q: length %d for %dx%d components", h, len(h), nx, ny)
	}
	maxAC := float64(dec(h[1:2])+1) / 166
	colours := make([][3]float64, nx*ny)
	dc := blurHashDC(t, h)
	colours[0] = [3]float64{lin(dc[0]), lin(dc[1]), lin(dc[2])}
	for i := 1; i < nx*ny; i++ {
		v := dec(h[4+2*i : 6+2*i])
		for c, q := range []int{v / (19 * 19), v / 19 % 19, v % 19} {
			x := float64(q-9) / 9
			colours[i][c] = math.Copysign(x*x, x) * maxAC
		}
	}
	out := make([]float64, 0, w*hh*3)
	for y := 0; y < hh; y++ {
		for x := 0; x < w; x++ {
			var px [3]float64
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					b := math.Cos(math.Pi*float64(x*i)/float64(w)) * math.Cos(math.Pi*float64(y*j)/float64(hh))
					for c := range px {
						px[c] += colours[i+j*nx][c] * b
					}
				}
			}
			for _, v := range px {
				v = math.Max(0, math.Min(1, v))
				if v <= 0.0031308 {
					v *= 12.92
				} else {
					v = 1.055*math.Pow(v, 1/2.4) - 0.055
				}
				out = append(out, v*255)
			}
		}
	}
	return out
}

// displayed is src as a viewer shows it: upright, through its ICC profile
// (perceptual intent), as an sRGB PNG.
func displayed(t *testing.T, src []byte) []byte {
	t.Helper()
	img, err := vips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	if err := img.AutoRotate(); err != nil {
		t.Fatal(short(err))
	}
	if img.HasICCProfile() {
		if err := img.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
			t.Fatal(short(err))
		}
	}
	if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
		t.Fatal(short(err))
	}
	b, _, err := img.ExportPng(&vips.PngExportParams{Compression: 1})
	if err != nil {
		t.Fatal(short(err))
	}
	return b
}

func extrasOf(t *testing.T, src []byte) imaging.Extras {
	t.Helper()
	return process(t, src, imaging.Variant{Name: "v", Width: 32, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true}).Extras
}

func TestExtras(t *testing.T) {
	white := solidPNG(t, 50, 30, [3]float64{255, 255, 255}, [3]float64{}, 0)
	if got := extrasOf(t, white); got.BlurHash[2:6] != "TSUA" || got.DominantColor != "#ffffff" {
		t.Errorf("white: %+v, want a BlurHash averaging #ffffff", got)
	}

	// Three quarters red, one quarter blue.
	rb := solidPNG(t, 400, 100, [3]float64{255, 0, 0}, [3]float64{0, 0, 255}, 0.25)
	e := extrasOf(t, rb)
	if e.DominantColor != "#ff0000" {
		t.Errorf("dominant colour %s, want #ff0000", e.DominantColor)
	}
	// The DC component is the mean in linear light: (0.75, 0, 0.25) → sRGB.
	dc := blurHashDC(t, e.BlurHash)
	if want := [3]float64{225, 0, 137}; imagetest.ColourDistance(dc, want) > 8 {
		t.Errorf("BlurHash %s average %v, want about %v", e.BlurHash, dc, want)
	}
	// Decoded, it is red on the left and blue on the right.
	px := decodeBlurHash(t, e.BlurHash, 32, 8)
	left, right := px[(4*32+2)*3:(4*32+2)*3+3], px[(4*32+30)*3:(4*32+30)*3+3]
	if !(left[0] > 200 && left[2] < 100 && right[2] > 150 && right[0] < right[2]) {
		t.Errorf("BlurHash %s decodes to %v on the left, %v on the right; want red, blue", e.BlurHash, left, right)
	}

	for _, fx := range []string{landscapeJPEG, orient6JPEG, portraitJPEG, photoPNG, alphaPNG, "cmyk.jpg", "adobergb.jpg", "anim.gif"} {
		t.Run(fx, func(t *testing.T) {
			src := imagetest.Fixture(t, fx)
			e := extrasOf(t, src)
			if !blurHashRE.MatchString(e.BlurHash) || e.BlurHash[0] != 'L' {
				t.Errorf("BlurHash %q is not a 4x3 BlurHash", e.BlurHash)
			}
			if len(e.PHashHex()) != 16 || e.PHashHex() != fmt.Sprintf("%016x", e.PHash) {
				t.Errorf("PHashHex %q", e.PHashHex())
			}
			// The same perceptual hash as the independent test helper
			// computes from the picture as displayed (first frame).
			ref := displayed(t, src)
			if fx == "anim.gif" {
				ref = imagetest.Frame(t, src, 0)
			}
			if d := imagetest.Distance(e.PHash, imagetest.PHash(t, ref)); d > maxSame {
				t.Errorf("PHash %016x is %d from imagetest.PHash", e.PHash, d)
			}
			// The BlurHash average is near the picture's mean colour (mean
			// in linear light is a little brighter than the sRGB mean).
			if d := imagetest.ColourDistance(blurHashDC(t, e.BlurHash), imagetest.MeanColour(t, ref)); d > 40 && fx != alphaPNG {
				t.Errorf("BlurHash average %v far from the mean colour %v", blurHashDC(t, e.BlurHash), imagetest.MeanColour(t, ref))
			}
			if !regexp.MustCompile(`^#[0-9a-f]{6}$`).MatchString(e.DominantColor) {
				t.Errorf("dominant colour %q", e.DominantColor)
			}
		})
	}

	// Different pictures, different hashes; the rotated fixture, the same.
	a, b := extrasOf(t, imagetest.Fixture(t, landscapeJPEG)), extrasOf(t, imagetest.Fixture(t, photoPNG))
	if imagetest.Distance(a.PHash, b.PHash) < 16 || a.BlurHash == b.BlurHash {
		t.Error("two different photographs have similar extras")
	}
	if r := extrasOf(t, imagetest.Fixture(t, orient6JPEG)); imagetest.Distance(a.PHash, r.PHash) > 4 || math.Abs(float64(len(r.BlurHash)-len(a.BlurHash))) != 0 {
		t.Errorf("orientation 6 fixture: pHash distance %d", imagetest.Distance(a.PHash, r.PHash))
	}
}
