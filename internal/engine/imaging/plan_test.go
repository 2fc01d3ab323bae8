package imaging

import (
	"errors"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// TestPlanProperties checks the geometry invariants over many random sources
// and boxes, without libvips.
func TestPlanProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	fits := []Fit{FitContain, FitCover, FitFill, FitInside, FitOutside}
	for i := 0; i < 20000; i++ {
		sw, sh := 1+rng.Intn(5000), 1+rng.Intn(5000)
		v := Variant{Width: 1 + rng.Intn(3000), Height: 1 + rng.Intn(3000), Fit: fits[rng.Intn(len(fits))], AllowUpscale: rng.Intn(2) == 0}
		switch rng.Intn(6) {
		case 0:
			v.Width = 0
		case 1:
			v.Height = 0
		}
		p := planFor(v, sw, sh)
		fail := func(msg string) {
			t.Fatalf("%s: source %dx%d, variant %+v → plan %+v", msg, sw, sh, v, p)
		}
		if p.rw < 1 || p.rh < 1 || p.cw < 1 || p.ch < 1 {
			fail("empty dimension")
		}
		if !v.AllowUpscale && (p.rw > sw || p.rh > sh) {
			fail("upscaled without AllowUpscale")
		}
		if !v.AllowUpscale && v.Fit != FitContain && (p.cw > sw || p.ch > sh) {
			// (contain may pad beyond the source: that is padding, not scaling)
			fail("canvas larger than the source without AllowUpscale")
		}
		if v.Width == 0 || v.Height == 0 {
			if p.cw != p.rw || p.ch != p.rh {
				fail("one-sided box must not crop or pad")
			}
			if v.Width > 0 && (v.AllowUpscale || v.Width <= sw) && p.cw != v.Width {
				fail("width-only box: wrong width")
			}
			if v.Height > 0 && (v.AllowUpscale || v.Height <= sh) && p.ch != v.Height {
				fail("height-only box: wrong height")
			}
			continue
		}
		fitsBox := p.cw <= v.Width && p.ch <= v.Height
		exact := p.cw == v.Width && p.ch == v.Height
		enlarging := float64(v.Width)/float64(sw) > 1 || float64(v.Height)/float64(sh) > 1
		switch v.Fit {
		case FitInside:
			if !fitsBox {
				fail("inside exceeds the box")
			}
		case FitContain:
			if !fitsBox || p.rw > p.cw || p.rh > p.ch {
				fail("contain exceeds the box or crops")
			}
			if (v.AllowUpscale || !(float64(v.Width)/float64(sw) > 1 && float64(v.Height)/float64(sh) > 1)) && !exact {
				fail("contain must be exactly the box")
			}
		case FitCover:
			if !fitsBox || p.rw < p.cw || p.rh < p.ch {
				fail("cover exceeds the box or pads")
			}
			if (v.AllowUpscale || !enlarging) && !exact {
				fail("cover must be exactly the box")
			}
			if !v.AllowUpscale && enlarging {
				// The largest unscaled region with the box's aspect.
				if p.rw != sw || p.rh != sh || (p.cw != sw && p.ch != sh) {
					fail("cover without upscaling must crop the largest region of the unscaled source")
				}
				want := float64(v.Width) / float64(v.Height)
				got := float64(p.cw) / float64(p.ch)
				if tol := want * (1/float64(p.cw) + 1/float64(p.ch)) * 1.01; math.Abs(got-want) > tol && p.cw > 1 && p.ch > 1 {
					fail("cover without upscaling changed the box's aspect ratio")
				}
			}
		case FitFill:
			if (v.AllowUpscale || !enlarging) && !exact {
				fail("fill must be exactly the box")
			}
		case FitOutside:
			if (v.AllowUpscale || !enlarging) && (p.cw < v.Width || p.ch < v.Height) {
				fail("outside must cover the box")
			}
		}
		// Aspect kept (within rounding) for everything but fill, unless a
		// side was clamped to one pixel.
		if v.Fit != FitFill && p.rw > 1 && p.rh > 1 {
			want := float64(sw) / float64(sh)
			got := float64(p.rw) / float64(p.rh)
			tol := want * (1/float64(p.rw) + 1/float64(p.rh)) * 1.01
			if d := got - want; d > tol || d < -tol {
				fail("aspect ratio changed")
			}
		}
	}
}

// TestPlacementProperties: whatever the gravity, focal point and crop, a
// crop window lies inside the resized image and a padded image inside its
// canvas; compass points put it against the edges they name.
func TestPlacementProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for i := 0; i < 20000; i++ {
		sw, sh := 1+rng.Intn(4000), 1+rng.Intn(4000)
		v := Variant{Width: 1 + rng.Intn(2000), Height: 1 + rng.Intn(2000), Fit: []Fit{FitCover, FitContain}[rng.Intn(2)],
			Gravity: Gravity(rng.Intn(int(GravityFocalPoint) + 1)), Focal: Point{X: rng.Float64(), Y: rng.Float64()}, AllowUpscale: rng.Intn(2) == 0}
		if rng.Intn(3) == 0 {
			x, y := rng.Intn(sw), rng.Intn(sh)
			v.Crop = &Rect{X: x, Y: y, Width: 1 + rng.Intn(sw-x), Height: 1 + rng.Intn(sh-y)}
		}
		p := planVariant(v, sw, sh)
		fail := func(msg string) { t.Fatalf("%s: source %dx%d, %+v → %+v", msg, sw, sh, v, p) }
		if v.Crop != nil && p.src != *v.Crop || v.Crop == nil && p.src != (Rect{Width: sw, Height: sh}) {
			fail("wrong source region")
		}
		switch {
		case p.crops():
			if p.x < 0 || p.y < 0 || p.x+p.cw > p.rw || p.y+p.ch > p.rh {
				fail("crop window outside the resized image")
			}
		case p.pads():
			if p.x < 0 || p.y < 0 || p.x+p.rw > p.cw || p.y+p.rh > p.ch {
				fail("image outside its canvas")
			}
		}
		if !p.crops() && !p.pads() && (p.x != 0 || p.y != 0) {
			fail("offset without crop or padding")
		}
		if (p.crops() || p.pads()) && v.Gravity != GravityFocalPoint && !v.Gravity.smart() {
			outer, inner := p.rw, p.cw
			if p.pads() {
				outer, inner = p.cw, p.rw
			}
			switch v.Gravity.side(true) {
			case -1:
				if p.x != 0 {
					fail("west gravity not at the left edge")
				}
			case 1:
				if p.x != outer-inner {
					fail("east gravity not at the right edge")
				}
			default:
				if p.x != (outer-inner)/2 {
					fail("not centred horizontally")
				}
			}
		}
	}
}

// A variant may enlarge its source (the image, or its crop) at most
// Limits.MaxUpscale times on either side: more is the input's fault,
// CodeUpscaleTooLarge, whatever the fit. Padding is not enlarging.
func TestUpscaleLimit(t *testing.T) {
	up := func(w, h int, fit Fit) Variant {
		return Variant{Name: "v", Width: w, Height: h, Fit: fit, Format: FormatPNG, AllowUpscale: true}
	}
	cropped := func(v Variant, c Rect) Variant { v.Crop = &c; return v }
	cases := []struct {
		name   string
		sw, sh int
		v      Variant
		max    int // Limits.MaxUpscale; 0: the default
		ok     bool
	}{
		{"4x exactly", 100, 100, up(400, 400, FitInside), 0, true},
		{"just over 4x", 100, 100, up(401, 401, FitInside), 0, false},
		{"1x1 to 4096 wide", 1, 1, up(4096, 0, FitInside), 0, false},
		{"4x wide, height follows", 100, 50, up(400, 0, FitInside), 0, true},
		{"no upscale asked: never enlarged", 100, 100, Variant{Name: "v", Width: 4000, Height: 4000, Fit: FitCover, Format: FormatPNG}, 0, true},
		{"contain pads the rest", 100, 50, up(400, 400, FitContain), 0, true},
		{"cover enlarges the short side 8x", 100, 50, up(400, 400, FitCover), 0, false},
		{"outside enlarges the short side 8x", 100, 50, up(400, 400, FitOutside), 0, false},
		{"fill stretches one side 10x", 100, 10, up(100, 100, FitFill), 0, false},
		{"fill within 4x on each side", 100, 25, up(400, 100, FitFill), 0, true},
		{"a 10x10 crop of a large image to 100x100", 1000, 1000, cropped(up(100, 100, FitInside), Rect{X: 5, Y: 5, Width: 10, Height: 10}), 0, false},
		{"a 50x50 crop to 200x200", 1000, 1000, cropped(up(200, 200, FitInside), Rect{Width: 50, Height: 50}), 0, true},
		{"limit 2: 2x", 100, 100, up(200, 200, FitInside), 2, true},
		{"limit 2: 3x", 100, 100, up(300, 300, FitInside), 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := SourceInfo{Width: c.sw, Height: c.sh, Frames: 1}
			_, _, err := planAll(info, []Variant{c.v}, Limits{MaxUpscale: c.max}.withDefaults())
			var ie *Error
			switch {
			case c.ok && err != nil:
				t.Errorf("refused: %v", err)
			case !c.ok && (!errors.As(err, &ie) || ie.Code != CodeUpscaleTooLarge):
				t.Errorf("error %v, want %s", err, CodeUpscaleTooLarge)
			case !c.ok && !strings.Contains(ie.Error(), `variant "v"`):
				t.Errorf("message %q does not name the variant", ie.Error())
			}
		})
	}
}
