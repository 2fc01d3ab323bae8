package spec

import (
	"math"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
)

// variantCheck is what the checks of one VariantSpec share: the field
// prefix of its errors, the variant, and what earlier checks resolved.
type variantCheck struct {
	p      *Presets
	f      string // e.g. "spec.variants[0]"
	v      *pb.VariantSpec
	fit    imaging.Fit    // set by checkFit
	format imaging.Format // set by checkFormat
}

// variantChecks validate a VariantSpec, in order: the first error wins, and
// a check may rely on what the checks before it resolved and accepted.
var variantChecks = []func(*variantCheck) error{
	checkName,
	// Geometry.
	checkSize,
	checkDPR,
	checkUpscale,
	checkFit,
	checkGravity,
	checkFocalPoint,
	checkCrop,
	checkEffects,
	// Format and its options.
	checkFormat,
	checkFormatOptions,
	checkQuality,
	checkMaxBytes,
	checkBackground,
	// Metadata, watermark, animation.
	checkMetadata,
	checkWatermark,
	checkStill,
}

// validateVariant checks one variant (fields named below f) with
// variantChecks, and returns what they resolved (for the spec's cost).
func (p *Presets) validateVariant(f string, v *pb.VariantSpec) (*variantCheck, error) {
	c := &variantCheck{p: p, f: f, v: v}
	for _, check := range variantChecks {
		if err := check(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// bad returns an *apperr.Error for field (below the variant's prefix).
func (c *variantCheck) bad(field, format string, args ...any) error {
	return apperr.InvalidField(c.f+"."+field, format, args...)
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

func checkName(c *variantCheck) error {
	if !ValidName(c.v.GetName()) {
		return c.bad("name", "must match %s, got %q", nameRE, c.v.GetName())
	}
	return nil
}

func checkWatermark(c *variantCheck) error {
	if wm := c.v.GetWatermark(); wm != nil {
		return c.p.validateWatermark(c.f+".watermark", wm)
	}
	return nil
}

func (p *Presets) validateWatermark(f string, wm *pb.Watermark) error {
	bad := apperr.InvalidField
	switch {
	case wm.GetAsset() == "":
		return bad(f+".asset", "required: the name of a watermark in the presets configuration")
	case p.watermarks[wm.GetAsset()] == nil:
		return bad(f+".asset", "unknown watermark %q", wm.GetAsset())
	}
	if _, ok := gravities[wm.GetPosition()]; !ok || !placing(wm.GetPosition()) {
		return bad(f+".position", "must be GRAVITY_CENTRE or a compass point, got %s", wm.GetPosition())
	}
	if m := wm.GetMargin(); m < 0 || m > MaxMargin {
		return bad(f+".margin", "must be 0..%d, got %d", MaxMargin, m)
	}
	if wm.Opacity != nil {
		if o := wm.GetOpacity(); !finite(o) || o <= 0 || o > 1 {
			return bad(f+".opacity", "must be above 0 and at most 1, got %v", o)
		}
	}
	if r := wm.GetRelativeWidth(); !finite(r) || r < 0 || r > 1 {
		return bad(f+".relative_width", "must be above 0 and at most 1 (or 0 for the asset's own size), got %v", r)
	}
	return nil
}
