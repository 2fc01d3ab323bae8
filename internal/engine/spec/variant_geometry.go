package spec

import (
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
)

// Checks of a variant's geometry: box, device pixel ratio, fit, gravity,
// focal point, crop; and its effects (see variantChecks).

func checkSize(c *variantCheck) error {
	w, h := c.v.GetWidth(), c.v.GetHeight()
	switch {
	case w < 0 || w > MaxDimension:
		return c.bad("width", "must be 0..%d, got %d", MaxDimension, w)
	case h < 0 || h > MaxDimension:
		return c.bad("height", "must be 0..%d, got %d", MaxDimension, h)
	case w == 0 && h == 0:
		return c.bad("width", "width or height is required")
	}
	return nil
}

func checkDPR(c *variantCheck) error {
	w, h, d := c.v.GetWidth(), c.v.GetHeight(), c.v.GetDpr()
	switch {
	case d == 0:
		return nil
	case !finite(d) || d < 1 || d > MaxDPR:
		return c.bad("dpr", "must be 1..%d (or 0 for 1), got %v", MaxDPR, d)
	case scaled(w, d) > MaxDimension || scaled(h, d) > MaxDimension:
		return c.bad("dpr", "%dx%d at dpr %v exceeds %d pixels", w, h, d, MaxDimension)
	}
	return nil
}

// bothSides reports whether the variant's box has a width and a height.
func (c *variantCheck) bothSides() bool { return c.v.GetWidth() != 0 && c.v.GetHeight() != 0 }

func checkFit(c *variantCheck) error {
	fit, ok := fits[c.v.GetFit()]
	if !ok {
		return c.bad("fit", "unknown fit %d", c.v.GetFit())
	}
	if (fit == imaging.FitContain || fit == imaging.FitCover || fit == imaging.FitFill) && !c.bothSides() {
		return c.bad("fit", "%s needs both width and height", c.v.GetFit())
	}
	c.fit = fit
	return nil
}

func checkGravity(c *variantCheck) error {
	g := c.v.GetGravity()
	if _, ok := gravities[g]; !ok {
		return c.bad("gravity", "unknown gravity %d", g)
	}
	switch {
	case g == pb.Gravity_GRAVITY_UNSPECIFIED:
		return nil
	case !c.bothSides() || (c.fit != imaging.FitCover && c.fit != imaging.FitContain):
		return c.bad("gravity", "only FIT_COVER and FIT_CONTAIN with both width and height crop or pad, so nothing to place")
	case c.fit == imaging.FitContain && !placing(g):
		return c.bad("gravity", "FIT_CONTAIN only places the image: use GRAVITY_CENTRE or a compass point, not %s", g)
	}
	return nil
}

func checkFocalPoint(c *variantCheck) error {
	fp, focal := c.v.GetFocalPoint(), c.v.GetGravity() == pb.Gravity_GRAVITY_FOCAL_POINT
	switch {
	case fp == nil && focal:
		return c.bad("focal_point", "required with GRAVITY_FOCAL_POINT")
	case fp == nil:
		return nil
	case !focal:
		return c.bad("focal_point", "only used with GRAVITY_FOCAL_POINT")
	case !unitInterval(fp.GetX()):
		return c.bad("focal_point.x", "must be 0..1, got %v", fp.GetX())
	case !unitInterval(fp.GetY()):
		return c.bad("focal_point.y", "must be 0..1, got %v", fp.GetY())
	}
	return nil
}

func unitInterval(x float32) bool { return finite(x) && x >= 0 && x <= 1 }

func checkCrop(c *variantCheck) error {
	r := c.v.GetCrop()
	switch {
	case r == nil:
		return nil
	case r.GetX() < 0 || r.GetX() >= maxCropSide:
		return c.bad("crop.x", "must be 0..%d, got %d", maxCropSide-1, r.GetX())
	case r.GetY() < 0 || r.GetY() >= maxCropSide:
		return c.bad("crop.y", "must be 0..%d, got %d", maxCropSide-1, r.GetY())
	case r.GetWidth() < 1 || r.GetWidth() > maxCropSide:
		return c.bad("crop.width", "must be 1..%d, got %d", maxCropSide, r.GetWidth())
	case r.GetHeight() < 1 || r.GetHeight() > maxCropSide:
		return c.bad("crop.height", "must be 1..%d, got %d", maxCropSide, r.GetHeight())
	}
	return nil
}

func checkEffects(c *variantCheck) error {
	e := c.v.GetEffects()
	if e == nil {
		return nil
	}
	if s := e.GetBlurSigma(); s != 0 && (!finite(s) || s < MinBlur || s > MaxBlur) {
		return c.bad("effects.blur_sigma", "must be %v..%v (or 0 for none), got %v", MinBlur, MaxBlur, s)
	}
	if s := e.GetSharpenSigma(); s != 0 && (!finite(s) || s < MinSharpen || s > MaxSharpen) {
		return c.bad("effects.sharpen_sigma", "must be %v..%v (or 0 for none), got %v", MinSharpen, MaxSharpen, s)
	}
	return nil
}
