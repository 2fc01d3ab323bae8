package imaging

import (
	"math/rand"
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
