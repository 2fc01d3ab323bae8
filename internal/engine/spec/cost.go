package spec

import (
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
)

// Cost limits of a spec: what one job may ask the processor to do. They are
// checked with the rest of the spec, at the edge (ingest's check, reprocess,
// a presets file), so a costly spec is refused with INVALID_ARGUMENT naming
// the field before anything is stored. The source is unknown there, so they
// bound what is requested; the processor bounds what the source implies
// (imaging.Limits: decoded pixels, AVIF output pixels).
//
//   - MaxTotalPixels bounds the sum over variants of width×height after
//     dpr (field "variants"). A variant with one side only is counted with
//     the other side at MaxDimension, the largest validation allows for a
//     requested side: a conservative estimate, since its real height (or
//     width) follows the source's aspect ratio. The built-in "web" ladder
//     (10 width-only variants, 10,240 px of widths) is estimated at 84 MP.
//   - MaxUpscaleDimension bounds each requested side (after dpr) of a
//     variant with allow_upscale: the one place output may exceed the
//     source, so a tiny original cannot be blown up to 8192 px ("width",
//     "height" or "dpr"). The upscale factor itself (output over source)
//     depends on the source's size, known only to the processor: imaging
//     bounds it when it plans the variants (imaging.Limits.MaxUpscale, 4×
//     a side), failing the image with "upscale_too_large".
//   - MaxBlur (in the variant's limits) bounds the blur sigma, whose cost
//     grows with it ("effects.blur_sigma").
//   - MaxLosslessWebPEffort bounds the effort of lossless WebP, whose
//     encoder is several times slower at 5 and 6 ("webp.effort").
//   - MaxHeavyVariants bounds how many variants use a slow encoder: AVIF,
//     FORMAT_AUTO (which tries AVIF) and lossless WebP (field "variants").
const (
	MaxTotalPixels        = 100_000_000
	MaxUpscaleDimension   = 4096
	MaxLosslessWebPEffort = 4
	MaxHeavyVariants      = 4
)

// estimatedPixels is a variant's output pixels as MaxTotalPixels counts
// them: width×height after dpr, a missing side counted as MaxDimension. The
// variant has passed checkSize and checkDPR.
func (c *variantCheck) estimatedPixels() int64 {
	side := func(n int32) int64 {
		if n == 0 {
			return MaxDimension
		}
		return int64(scaled(n, c.v.GetDpr()))
	}
	return side(c.v.GetWidth()) * side(c.v.GetHeight())
}

// heavy reports whether the variant uses a slow encoder (see
// MaxHeavyVariants). The variant has passed checkFormat.
func (c *variantCheck) heavy() bool {
	return c.format == imaging.FormatAVIF || c.format == imaging.FormatAuto || c.lossless()
}

// specCost sums what MaxTotalPixels and MaxHeavyVariants bound over the
// variants of one spec, as Validate checks them one by one.
type specCost struct {
	pixels int64
	heavy  int
}

func (s *specCost) add(c *variantCheck) {
	s.pixels += c.estimatedPixels()
	if c.heavy() {
		s.heavy++
	}
}

// check returns an *apperr.Error naming field (the spec's "variants") when
// the variants together cost too much.
func (s *specCost) check(field string) error {
	if s.pixels > MaxTotalPixels {
		return apperr.InvalidField(field,
			"the variants ask for about %d pixels in all (width×height after dpr, a missing side counted as %d); at most %d",
			s.pixels, MaxDimension, MaxTotalPixels)
	}
	if s.heavy > MaxHeavyVariants {
		return apperr.InvalidField(field,
			"at most %d variants may use a slow encoder (FORMAT_AVIF, FORMAT_AUTO, lossless WebP), got %d", MaxHeavyVariants, s.heavy)
	}
	return nil
}

// checkUpscale bounds a variant with allow_upscale (MaxUpscaleDimension).
// It runs after checkSize and checkDPR.
func checkUpscale(c *variantCheck) error {
	if !c.v.GetAllowUpscale() {
		return nil
	}
	d := c.v.GetDpr()
	for _, s := range []struct {
		field string
		n     int32
	}{{"width", c.v.GetWidth()}, {"height", c.v.GetHeight()}} {
		switch {
		case s.n > MaxUpscaleDimension:
			return c.bad(s.field, "must be at most %d with allow_upscale, got %d", MaxUpscaleDimension, s.n)
		case scaled(s.n, d) > MaxUpscaleDimension:
			return c.bad("dpr", "%s %d at dpr %v exceeds %d pixels, the most allowed with allow_upscale", s.field, s.n, d, MaxUpscaleDimension)
		}
	}
	return nil
}
