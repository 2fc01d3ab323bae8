package imaging

import (
	"fmt"
	"math"
)

// plan is the geometry of one variant, relative to the upright source.
type plan struct {
	// rw x rh is the size the image is resized to (aspect kept except for
	// FitFill).
	rw, rh int
	// cw x ch is the final canvas: equal to rw x rh, smaller (FitCover crops
	// the centre) or larger (FitContain pads around the centre).
	cw, ch int
}

// scale is the largest resize factor the plan needs from the source.
func (p plan) scale(sw, sh int) float64 {
	return math.Max(float64(p.rw)/float64(sw), float64(p.rh)/float64(sh))
}

func roundDim(x float64) int {
	return max(1, int(math.Round(x)))
}

// planFor computes the geometry of v for an upright source of sw x sh.
func planFor(v Variant, sw, sh int) plan {
	fw, fh := float64(sw), float64(sh)
	bw, bh := float64(v.Width), float64(v.Height)
	capScale := func(s float64) float64 {
		if !v.AllowUpscale && s > 1 {
			return 1
		}
		return s
	}
	aspect := func(s float64) plan {
		rw, rh := roundDim(fw*s), roundDim(fh*s)
		return plan{rw: rw, rh: rh, cw: rw, ch: rh}
	}

	// One-sided box: scale to that side, aspect kept, for every fit.
	if v.Height == 0 {
		p := aspect(capScale(bw / fw))
		if v.AllowUpscale || bw <= fw {
			p.rw, p.cw = v.Width, v.Width // exact requested side
		}
		return p
	}
	if v.Width == 0 {
		p := aspect(capScale(bh / fh))
		if v.AllowUpscale || bh <= fh {
			p.rh, p.ch = v.Height, v.Height
		}
		return p
	}

	switch v.Fit {
	case FitFill:
		rw, rh := roundDim(fw*capScale(bw/fw)), roundDim(fh*capScale(bh/fh))
		return plan{rw: rw, rh: rh, cw: rw, ch: rh}

	case FitCover, FitOutside:
		s := math.Max(bw/fw, bh/fh)
		capped := capScale(s)
		rw, rh := roundDim(fw*capped), roundDim(fh*capped)
		if capped == s {
			// Guard against rounding below the box on the tight side.
			rw, rh = max(rw, v.Width), max(rh, v.Height)
		}
		if v.Fit == FitOutside {
			return plan{rw: rw, rh: rh, cw: rw, ch: rh}
		}
		return plan{rw: rw, rh: rh, cw: min(v.Width, rw), ch: min(v.Height, rh)}

	default: // FitContain, FitInside
		s := math.Min(bw/fw, bh/fh)
		capped := capScale(s)
		rw, rh := roundDim(fw*capped), roundDim(fh*capped)
		rw, rh = min(rw, v.Width), min(rh, v.Height)
		if v.Fit == FitInside || capped != s {
			// Inside never pads; contain of a source smaller than the box
			// without upscaling is not padded either (withoutEnlargement).
			return plan{rw: rw, rh: rh, cw: rw, ch: rh}
		}
		return plan{rw: rw, rh: rh, cw: v.Width, ch: v.Height}
	}
}

// checkPlan rejects plans whose output would exceed the limits (only possible
// with AllowUpscale).
func checkPlan(v Variant, p plan, lim Limits) error {
	w, h := max(p.rw, p.cw), max(p.rh, p.ch)
	if w > lim.MaxWidth || h > lim.MaxHeight || int64(w)*int64(h) > lim.MaxPixels {
		return fmt.Errorf("%w %q: output %dx%d exceeds limits", ErrInvalidVariant, v.Name, w, h)
	}
	return nil
}
