package imaging_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// region makes an independent reference: the upright source's x, y, w, h
// rectangle scaled to exactly outW x outH, as a PNG.
func region(t *testing.T, src []byte, x, y, w, h, outW, outH int) []byte {
	t.Helper()
	img, err := vips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	if err := img.AutoRotate(); err != nil {
		t.Fatal(short(err))
	}
	if err := img.ExtractArea(x, y, w, h); err != nil {
		t.Fatalf("reference region %d,%d %dx%d: %s", x, y, w, h, short(err))
	}
	if err := img.ThumbnailWithSize(outW, outH, vips.InterestingNone, vips.SizeForce); err != nil {
		t.Fatal(short(err))
	}
	b, _, err := img.ExportPng(vips.NewPngExportParams())
	if err != nil {
		t.Fatal(short(err))
	}
	return b
}

// closer asserts that got looks like want (pHash distance <= maxSame) and
// more like want than like each of the others.
func closer(t *testing.T, what string, got, want []byte, others map[string][]byte) {
	t.Helper()
	hg := imagetest.PHash(t, got)
	dw := imagetest.Distance(hg, imagetest.PHash(t, want))
	if dw > maxSame {
		t.Errorf("%s: pHash distance to the expected region = %d, want <= %d", what, dw, maxSame)
	}
	for name, o := range others {
		if do := imagetest.Distance(hg, imagetest.PHash(t, o)); do <= dw {
			t.Errorf("%s: as close to the %s region (%d) as to the expected one (%d)", what, name, do, dw)
		}
	}
}

func TestCoverGravity(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG) // 1600x900
	// A 100x300 cover crop scales the photo to 533x300 and keeps a 100-wide
	// window: in source pixels, 300 wide at x = 0, 650 or 1300.
	left := region(t, src, 0, 0, 300, 900, 100, 300)
	centre := region(t, src, 650, 0, 300, 900, 100, 300)
	right := region(t, src, 1300, 0, 300, 900, 100, 300)
	want := map[imaging.Gravity][]byte{
		imaging.GravityDefault: centre, imaging.GravityCentre: centre, imaging.GravityNorth: centre, imaging.GravitySouth: centre,
		imaging.GravityWest: left, imaging.GravityNorthWest: left, imaging.GravitySouthWest: left,
		imaging.GravityEast: right, imaging.GravityNorthEast: right, imaging.GravitySouthEast: right,
	}
	all := map[string][]byte{"left": left, "centre": centre, "right": right}
	for g, ref := range want {
		t.Run(fmt.Sprintf("gravity %d", g), func(t *testing.T) {
			out := processOne(t, src, imaging.Variant{Width: 100, Height: 300, Fit: imaging.FitCover, Gravity: g, Format: imaging.FormatPNG, StripMetadata: true})
			checkOutput(t, out, imaging.FormatPNG, 100, 300)
			others := map[string][]byte{}
			for n, b := range all {
				if &b[0] != &ref[0] {
					others[n] = b
				}
			}
			closer(t, "cover", out.Data, ref, others)
		})
	}

	// Vertical crops follow north and south.
	portrait := imagetest.Fixture(t, portraitJPEG) // 600x1000: 300x100 keeps 600x200 bands
	top, middle, bottom := region(t, portrait, 0, 0, 600, 200, 300, 100), region(t, portrait, 0, 400, 600, 200, 300, 100), region(t, portrait, 0, 800, 600, 200, 300, 100)
	for _, c := range []struct {
		g    imaging.Gravity
		want []byte
	}{{imaging.GravityNorth, top}, {imaging.GravityNorthEast, top}, {imaging.GravityCentre, middle}, {imaging.GravityEast, middle}, {imaging.GravitySouth, bottom}, {imaging.GravitySouthWest, bottom}} {
		out := processOne(t, portrait, imaging.Variant{Width: 300, Height: 100, Fit: imaging.FitCover, Gravity: c.g, Format: imaging.FormatJPEG, StripMetadata: true})
		checkOutput(t, out, imaging.FormatJPEG, 300, 100)
		others := map[string][]byte{}
		for n, b := range map[string][]byte{"top": top, "middle": middle, "bottom": bottom} {
			if &b[0] != &c.want[0] {
				others[n] = b
			}
		}
		closer(t, fmt.Sprintf("portrait gravity %d", c.g), out.Data, c.want, others)
	}
}

func TestFocalPoint(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG) // 1600x900, cover 100x300 → 533x300
	cases := []struct {
		x    float64
		srcX int // left edge of the kept 300x900 source window
	}{
		{0.5, 650},   // centred
		{0.3, 330},   // 0.3*533 - 50 = 110 → 330 in the source
		{0.02, 0},    // clamped to the left edge
		{0.95, 1300}, // clamped to the right edge
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.x), func(t *testing.T) {
			out := processOne(t, src, imaging.Variant{Width: 100, Height: 300, Fit: imaging.FitCover, Gravity: imaging.GravityFocalPoint,
				Focal: imaging.Point{X: c.x, Y: 0.5}, Format: imaging.FormatPNG, StripMetadata: true})
			checkOutput(t, out, imaging.FormatPNG, 100, 300)
			others := map[string][]byte{}
			for _, x := range []int{0, 330, 650, 1300} {
				if x != c.srcX {
					others[fmt.Sprint("x=", x)] = region(t, src, x, 0, 300, 900, 100, 300)
				}
			}
			closer(t, "focal", out.Data, region(t, src, c.srcX, 0, 300, 900, 100, 300), others)
		})
	}
}

// sideBySide is a 1500x400 PNG: flat grey on the left 900 pixels, the coffee
// photo (600x400) on the right.
func sideBySide(t *testing.T) []byte {
	t.Helper()
	photo, err := vips.NewImageFromBuffer(imagetest.Fixture(t, photoPNG)) // 600x400
	if err != nil {
		t.Fatal(short(err))
	}
	defer photo.Close()
	if err := photo.EmbedBackground(900, 0, 1500, 400, &vips.Color{R: 128, G: 128, B: 128}); err != nil {
		t.Fatal(short(err))
	}
	b, _, err := photo.ExportPng(&vips.PngExportParams{Compression: 1})
	if err != nil {
		t.Fatal(short(err))
	}
	return b
}

func TestSmartCrop(t *testing.T) {
	src := sideBySide(t) // 1500x400: grey 0..900, coffee photo 900..1500
	photo := region(t, src, 900, 0, 400, 400, 200, 200)
	grey := region(t, src, 100, 0, 400, 400, 200, 200)
	for _, g := range []imaging.Gravity{imaging.GravitySmartAttention, imaging.GravitySmartEntropy} {
		out := processOne(t, src, imaging.Variant{Width: 200, Height: 200, Fit: imaging.FitCover, Gravity: g, Format: imaging.FormatPNG, StripMetadata: true})
		checkOutput(t, out, imaging.FormatPNG, 200, 200)
		// The photo, not the flat grey, whatever part of it exactly.
		if p := imagetest.Pixel(t, out.Data, 100, 100); near(p[:3], 128, 128, 128) {
			t.Errorf("gravity %d kept the flat grey: centre pixel %v", g, p)
		}
		hg := imagetest.PHash(t, out.Data)
		if dp, dg := imagetest.Distance(hg, imagetest.PHash(t, photo)), imagetest.Distance(hg, imagetest.PHash(t, grey)); dp >= dg {
			t.Errorf("gravity %d: distance to the photo side %d, to the grey side %d", g, dp, dg)
		}
	}
}

func TestContainGravity(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG) // 1600x900 in 400x400: 400x225 plus 175 rows of padding
	red := [4]uint8{255, 0, 0, 255}
	cases := []struct {
		g            imaging.Gravity
		photoY, padY int // a row in the photo and one in the padding
	}{
		{imaging.GravityNorth, 10, 390},
		{imaging.GravityNorthWest, 10, 390},
		{imaging.GravitySouth, 390, 10},
		{imaging.GravitySouthEast, 390, 10},
		{imaging.GravityCentre, 200, 10},
		{imaging.GravityWest, 200, 390}, // horizontal gravity does not matter here
	}
	for _, c := range cases {
		out := processOne(t, src, imaging.Variant{Width: 400, Height: 400, Fit: imaging.FitContain, Gravity: c.g, Background: red, Format: imaging.FormatPNG, StripMetadata: true})
		checkOutput(t, out, imaging.FormatPNG, 400, 400)
		if p := imagetest.Pixel(t, out.Data, 200, c.padY); !near(p[:3], 255, 0, 0) {
			t.Errorf("gravity %d: row %d = %v, want the red padding", c.g, c.padY, p)
		}
		if p := imagetest.Pixel(t, out.Data, 200, c.photoY); near(p[:3], 255, 0, 0) {
			t.Errorf("gravity %d: row %d is padding, want the photo", c.g, c.photoY)
		}
	}
}

func TestCropRect(t *testing.T) {
	src := imagetest.Fixture(t, landscapeJPEG) // 1600x900
	cases := []struct {
		name string
		crop imaging.Rect
		v    imaging.Variant
		w, h int
	}{
		{"right half, inside 400", imaging.Rect{X: 800, Y: 0, Width: 800, Height: 900}, imaging.Variant{Width: 400, Height: 400, Fit: imaging.FitInside}, 356, 400},
		{"small corner, no upscale", imaging.Rect{X: 100, Y: 100, Width: 200, Height: 150}, imaging.Variant{Width: 800, Fit: imaging.FitInside}, 200, 150},
		{"centre square, cover 64 (shrink-on-load)", imaging.Rect{X: 500, Y: 200, Width: 500, Height: 500}, imaging.Variant{Width: 64, Height: 64, Fit: imaging.FitCover}, 64, 64},
		{"bottom strip, fill", imaging.Rect{X: 0, Y: 700, Width: 1600, Height: 200}, imaging.Variant{Width: 300, Height: 100, Fit: imaging.FitFill}, 300, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.v.Crop, c.v.Format, c.v.StripMetadata = &c.crop, imaging.FormatPNG, true
			out := processOne(t, src, c.v)
			checkOutput(t, out, imaging.FormatPNG, c.w, c.h)
			whole := reference(t, src, c.w, c.h, vips.InterestingNone, vips.SizeForce)
			closer(t, "crop", out.Data, region(t, src, c.crop.X, c.crop.Y, c.crop.Width, c.crop.Height, c.w, c.h), map[string][]byte{"whole image": whole})
		})
	}

	// Crops apply to the upright image: the same rectangle of the rotated
	// fixture gives the same picture.
	crop := imaging.Rect{X: 800, Y: 0, Width: 800, Height: 900}
	a := processOne(t, src, imaging.Variant{Width: 200, Fit: imaging.FitInside, Crop: &crop, Format: imaging.FormatPNG, StripMetadata: true})
	b := processOne(t, imagetest.Fixture(t, orient6JPEG), imaging.Variant{Width: 200, Fit: imaging.FitInside, Crop: &crop, Format: imaging.FormatPNG, StripMetadata: true})
	if d := imagetest.Distance(imagetest.PHash(t, a.Data), imagetest.PHash(t, b.Data)); d > maxSame || a.Height != b.Height {
		t.Errorf("crop of the orientation-6 fixture: distance %d, %dx%d vs %dx%d", d, b.Width, b.Height, a.Width, a.Height)
	}

	for _, bad := range []imaging.Rect{{X: 1500, Y: 0, Width: 200, Height: 100}, {X: 0, Y: 800, Width: 100, Height: 101}, {X: 1600, Y: 0, Width: 1, Height: 1}} {
		_, err := imaging.Process(context.Background(), src, []imaging.Variant{{Name: "c", Width: 100, Fit: imaging.FitInside, Crop: &bad, Format: imaging.FormatPNG}}, imaging.Limits{})
		var ie *imaging.Error
		if !errors.As(err, &ie) || ie.Code != imaging.CodeInvalidCrop {
			t.Errorf("crop %+v outside 1600x900: %v, want %s", bad, err, imaging.CodeInvalidCrop)
		}
	}
}

func TestOrientations(t *testing.T) {
	upright := imagetest.Fixture(t, "orient-1.jpg")
	want := imagetest.PHash(t, reference(t, upright, 200, 200, vips.InterestingNone, vips.SizeBoth))
	for n := 1; n <= 8; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			src := imagetest.Fixture(t, fmt.Sprintf("orient-%d.jpg", n))
			stored := imagetest.Decode(t, src)
			if stored.Orientation != n {
				t.Fatalf("fixture orientation %d, want %d", stored.Orientation, n)
			}
			info, err := imaging.Probe(src, imaging.Limits{})
			if err != nil || info.Width != 400 || info.Height != 225 || info.Orientation != n {
				t.Fatalf("Probe = %+v, %v; want upright 400x225, orientation %d", info, err, n)
			}
			res := process(t, src,
				imaging.Variant{Name: "inside", Width: 200, Height: 200, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true},
				imaging.Variant{Name: "keep", Width: 200, Height: 200, Fit: imaging.FitInside, Format: imaging.FormatJPEG},
				imaging.Variant{Name: "cover", Width: 100, Height: 100, Fit: imaging.FitCover, Gravity: imaging.GravityWest, Format: imaging.FormatPNG, StripMetadata: true},
			)
			for _, out := range res.Variants[:2] {
				got := checkOutput(t, out, imaging.FormatJPEG, 200, 113)
				if got.Orientation != 1 {
					t.Errorf("%s: output orientation %d, want 1 (pixels upright)", out.Name, got.Orientation)
				}
				if d := imagetest.Distance(imagetest.PHash(t, out.Data), want); d > maxSame {
					t.Errorf("%s: pHash distance to the upright picture = %d", out.Name, d)
				}
			}
			// The west crop of the upright picture: mirrored orientations
			// would show the east side.
			west := region(t, upright, 0, 0, 225, 225, 100, 100)
			east := region(t, upright, 175, 0, 225, 225, 100, 100)
			closer(t, "west crop", res.Variants[2].Data, west, map[string][]byte{"east": east})
		})
	}
}
