package imaging

import (
	"fmt"
	"math"
)

// plan is the geometry of one variant, relative to the upright source.
type plan struct {
	// src is the region of the upright source the variant is made from: the
	// whole image, or Variant.Crop.
	src Rect
	// rw x rh is the size src is resized to (aspect kept except for
	// FitFill).
	rw, rh int
	// cw x ch is the final canvas: equal to rw x rh, smaller (FitCover
	// crops) or larger (FitContain pads).
	cw, ch int
	// x, y place the canvas: for a crop, the top-left corner of the kept
	// window in the resized image; for padding, the position of the resized
	// image on the canvas. A smart gravity decides the crop at render time.
	x, y int
}

// crops and pads report what the canvas does to the resized image.
func (p plan) crops() bool { return p.cw < p.rw || p.ch < p.rh }
func (p plan) pads() bool  { return p.cw > p.rw || p.ch > p.rh }

// scale is the largest resize factor the plan needs from the source.
func (p plan) scale() float64 {
	return math.Max(float64(p.rw)/float64(p.src.Width), float64(p.rh)/float64(p.src.Height))
}

// planVariant computes the geometry of v for an upright source of sw x sh,
// cropped first when v.Crop is set (the caller has checked that it fits).
func planVariant(v Variant, sw, sh int) plan {
	src := Rect{Width: sw, Height: sh}
	if v.Crop != nil {
		src = *v.Crop
	}
	p := planFor(v, src.Width, src.Height)
	p.src = src
	switch {
	case p.crops():
		if v.Gravity == GravityFocalPoint {
			p.x = clamp(int(math.Round(v.Focal.X*float64(p.rw)-float64(p.cw)/2)), 0, p.rw-p.cw)
			p.y = clamp(int(math.Round(v.Focal.Y*float64(p.rh)-float64(p.ch)/2)), 0, p.rh-p.ch)
		} else {
			p.x = v.Gravity.align(p.rw, p.cw, 0, true)
			p.y = v.Gravity.align(p.rh, p.ch, 0, false)
		}
	case p.pads():
		p.x = v.Gravity.align(p.cw, p.rw, 0, true)
		p.y = v.Gravity.align(p.ch, p.rh, 0, false)
	}
	return p
}

func clamp(x, lo, hi int) int { return max(lo, min(x, hi)) }

func roundDim(x float64) int {
	return max(1, int(math.Round(x)))
}

// planFor computes the sizes of v for an upright source of sw x sh (no
// crop, no placement: see planVariant).
func planFor(v Variant, sw, sh int) plan {
	fw, fh := float64(sw), float64(sh)
	switch {
	case v.Width == 0 || v.Height == 0:
		return planOneSide(v, fw, fh)
	case v.Fit == FitFill:
		bw, bh := float64(v.Width), float64(v.Height)
		return unpadded(roundDim(fw*v.capScale(bw/fw)), roundDim(fh*v.capScale(bh/fh)))
	case v.Fit == FitCover, v.Fit == FitOutside:
		return planCover(v, fw, fh)
	default: // FitContain, FitInside
		return planContain(v, fw, fh)
	}
}

// capScale caps a resize factor at 1 unless v allows upscaling.
func (v Variant) capScale(s float64) float64 {
	if !v.AllowUpscale && s > 1 {
		return 1
	}
	return s
}

// unpadded is the plan of a resize to rw x rh with nothing cropped or padded.
func unpadded(rw, rh int) plan { return plan{rw: rw, rh: rh, cw: rw, ch: rh} }

// planOneSide plans a one-sided box (Width or Height 0): scale to that
// side, aspect kept, for every fit.
func planOneSide(v Variant, fw, fh float64) plan {
	if v.Height == 0 {
		bw := float64(v.Width)
		p := scaledPlan(fw, fh, v.capScale(bw/fw))
		if v.AllowUpscale || bw <= fw {
			p.rw, p.cw = v.Width, v.Width // exact requested side
		}
		return p
	}
	bh := float64(v.Height)
	p := scaledPlan(fw, fh, v.capScale(bh/fh))
	if v.AllowUpscale || bh <= fh {
		p.rh, p.ch = v.Height, v.Height
	}
	return p
}

// scaledPlan is the plan of a resize of fw x fh by s, aspect kept.
func scaledPlan(fw, fh, s float64) plan { return unpadded(roundDim(fw*s), roundDim(fh*s)) }

// planCover plans FitCover (scale to cover the box, then crop to it) and
// FitOutside (the same without the crop).
func planCover(v Variant, fw, fh float64) plan {
	bw, bh := float64(v.Width), float64(v.Height)
	s := math.Max(bw/fw, bh/fh)
	capped := v.capScale(s)
	rw, rh := roundDim(fw*capped), roundDim(fh*capped)
	if capped == s {
		// Guard against rounding below the box on the tight side.
		rw, rh = max(rw, v.Width), max(rh, v.Height)
	}
	if v.Fit == FitOutside {
		return unpadded(rw, rh)
	}
	if capped != s {
		// The box needs enlarging, which is not allowed: crop the
		// largest region with the box's aspect ratio instead, unscaled
		// (a square stays a square, only smaller).
		k := math.Min(fw/bw, fh/bh)
		return plan{rw: rw, rh: rh, cw: min(rw, roundDim(bw*k)), ch: min(rh, roundDim(bh*k))}
	}
	return plan{rw: rw, rh: rh, cw: min(v.Width, rw), ch: min(v.Height, rh)}
}

// planContain plans FitContain (scale to fit inside the box, then pad to
// it) and FitInside (the same without the padding).
func planContain(v Variant, fw, fh float64) plan {
	s := math.Min(float64(v.Width)/fw, float64(v.Height)/fh)
	capped := v.capScale(s)
	rw, rh := roundDim(fw*capped), roundDim(fh*capped)
	rw, rh = min(rw, v.Width), min(rh, v.Height)
	if v.Fit == FitInside || capped != s {
		// Inside never pads; contain of a source smaller than the box
		// without upscaling is not padded either (withoutEnlargement).
		return unpadded(rw, rh)
	}
	return plan{rw: rw, rh: rh, cw: v.Width, ch: v.Height}
}

// checkPlan rejects plans whose output would exceed the limits (a variant
// the spec should not have allowed: ErrInvalidVariant) and plans that
// enlarge their source more than lim.MaxUpscale times on a side (the
// input's fault: CodeUpscaleTooLarge); both only possible with
// AllowUpscale. Padding (FitContain's canvas) enlarges nothing.
func checkPlan(v Variant, p plan, lim Limits) error {
	w, h := max(p.rw, p.cw), max(p.rh, p.ch)
	if w > lim.MaxWidth || h > lim.MaxHeight || int64(w)*int64(h) > lim.MaxPixels {
		return fmt.Errorf("%w %q: output %dx%d exceeds limits", ErrInvalidVariant, v.Name, w, h)
	}
	if p.rw > lim.MaxUpscale*p.src.Width || p.rh > lim.MaxUpscale*p.src.Height {
		return newError(ErrUpscaleTooLarge, fmt.Sprintf(
			"variant %q: the %dx%d image would be enlarged to %dx%d; at most %d times its width and height",
			v.Name, p.src.Width, p.src.Height, p.rw, p.rh, lim.MaxUpscale), nil)
	}
	return nil
}
