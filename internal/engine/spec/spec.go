// Package spec validates ProcessingSpecs and keeps the named presets. A spec
// is validated once, at the edge (ingest, reprocess), with errors naming the
// offending field; the processor then converts it into typed imaging options
// without re-checking.
//
// Validation is strict: a field that means nothing for the rest of the
// variant (lossless JPEG, a gravity for FIT_INSIDE, PNG options for a WebP
// variant, keep_icc on a GIF, …) is an error naming it, never silently
// ignored.
package spec

import (
	"fmt"
	"math"
	"regexp"
	"strconv"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
)

// Limits of a spec.
const (
	MaxVariants  = 16
	MaxDimension = 8192
	MaxDPR       = 4
	// MaxBytesCeiling is the largest max_bytes (the largest upload);
	// MinMaxBytes the smallest.
	MaxBytesCeiling = 50 << 20
	MinMaxBytes     = 100
	MaxFrames       = 1000
	MaxMargin       = 1000
	// MaxBlur is a cost limit (see MaxTotalPixels): blurring costs in
	// proportion to sigma.
	MinBlur, MaxBlur       = 0.3, 20
	MinSharpen, MaxSharpen = 0.5, 10
	// maxCropSide bounds crop rectangles (no accepted image is larger).
	maxCropSide = 1 << 16
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ValidName reports whether s is a valid variant (or preset, or watermark)
// name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// outputFormats are the formats the processor can write.
var outputFormats = map[pb.Format]imaging.Format{
	pb.Format_FORMAT_JPEG: imaging.FormatJPEG,
	pb.Format_FORMAT_PNG:  imaging.FormatPNG,
	pb.Format_FORMAT_WEBP: imaging.FormatWebP,
	pb.Format_FORMAT_AVIF: imaging.FormatAVIF,
	pb.Format_FORMAT_GIF:  imaging.FormatGIF,
	pb.Format_FORMAT_AUTO: imaging.FormatAuto,
}

const outputFormatList = "FORMAT_JPEG, FORMAT_PNG, FORMAT_WEBP, FORMAT_AVIF, FORMAT_GIF or FORMAT_AUTO"

var fits = map[pb.Fit]imaging.Fit{
	pb.Fit_FIT_UNSPECIFIED: imaging.FitInside,
	pb.Fit_FIT_INSIDE:      imaging.FitInside,
	pb.Fit_FIT_CONTAIN:     imaging.FitContain,
	pb.Fit_FIT_COVER:       imaging.FitCover,
	pb.Fit_FIT_FILL:        imaging.FitFill,
	pb.Fit_FIT_OUTSIDE:     imaging.FitOutside,
}

var gravities = map[pb.Gravity]imaging.Gravity{
	pb.Gravity_GRAVITY_UNSPECIFIED:     imaging.GravityDefault,
	pb.Gravity_GRAVITY_CENTRE:          imaging.GravityCentre,
	pb.Gravity_GRAVITY_NORTH:           imaging.GravityNorth,
	pb.Gravity_GRAVITY_NORTH_EAST:      imaging.GravityNorthEast,
	pb.Gravity_GRAVITY_EAST:            imaging.GravityEast,
	pb.Gravity_GRAVITY_SOUTH_EAST:      imaging.GravitySouthEast,
	pb.Gravity_GRAVITY_SOUTH:           imaging.GravitySouth,
	pb.Gravity_GRAVITY_SOUTH_WEST:      imaging.GravitySouthWest,
	pb.Gravity_GRAVITY_WEST:            imaging.GravityWest,
	pb.Gravity_GRAVITY_NORTH_WEST:      imaging.GravityNorthWest,
	pb.Gravity_GRAVITY_SMART_ATTENTION: imaging.GravitySmartAttention,
	pb.Gravity_GRAVITY_SMART_ENTROPY:   imaging.GravitySmartEntropy,
	pb.Gravity_GRAVITY_FOCAL_POINT:     imaging.GravityFocalPoint,
}

// placing reports whether g only places (centre or a compass point), as
// opposed to analysing the image (smart) or needing a focal point.
func placing(g pb.Gravity) bool {
	return g >= pb.Gravity_GRAVITY_UNSPECIFIED && g <= pb.Gravity_GRAVITY_NORTH_WEST
}

var subsamplings = map[pb.ChromaSubsampling]imaging.Subsampling{
	pb.ChromaSubsampling_CHROMA_SUBSAMPLING_UNSPECIFIED: imaging.SubsamplingAuto,
	pb.ChromaSubsampling_CHROMA_SUBSAMPLING_420:         imaging.Subsampling420,
	pb.ChromaSubsampling_CHROMA_SUBSAMPLING_444:         imaging.Subsampling444,
}

// Validate checks s against the default presets' watermark assets (see
// SetDefault) and returns an *apperr.Error naming the first bad field,
// prefixed by field (e.g. "metadata.spec").
func Validate(field string, s *pb.ProcessingSpec) error { return Default().Validate(field, s) }

// Validate checks s, with watermark assets resolved against p, and returns
// an *apperr.Error naming the first bad field, prefixed by field.
func (p *Presets) Validate(field string, s *pb.ProcessingSpec) error {
	vs := s.GetVariants()
	if len(vs) == 0 {
		return apperr.InvalidField(field+".variants", "at least one variant is required")
	}
	if len(vs) > MaxVariants {
		return apperr.InvalidField(field+".variants", "at most %d variants, got %d", MaxVariants, len(vs))
	}
	if n := s.GetAnimation().GetMaxFrames(); n < 0 || n > MaxFrames {
		return apperr.InvalidField(field+".animation.max_frames", "must be 0..%d, got %d", MaxFrames, n)
	}
	seen := map[string]bool{}
	var cost specCost
	for i, v := range vs {
		f := fmt.Sprintf("%s.variants[%d]", field, i)
		c, err := p.validateVariant(f, v)
		if err != nil {
			return err
		}
		if seen[v.GetName()] {
			return apperr.InvalidField(f+".name", "duplicate variant name %q", v.GetName())
		}
		seen[v.GetName()] = true
		cost.add(c)
	}
	return cost.check(field + ".variants")
}

// ParseColor parses "#rrggbb" or "#rrggbbaa" (hex digits, either case) into
// RGBA.
func ParseColor(s string) ([4]uint8, error) {
	if (len(s) != 7 && len(s) != 9) || s[0] != '#' {
		return [4]uint8{}, fmt.Errorf("must be #rrggbb or #rrggbbaa, got %q", s)
	}
	c := [4]uint8{0, 0, 0, 255}
	for i := 0; i < (len(s)-1)/2; i++ {
		v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return [4]uint8{}, fmt.Errorf("must be #rrggbb or #rrggbbaa (hex), got %q", s)
		}
		c[i] = uint8(v)
	}
	return c, nil
}

// scaled is n pixels at device pixel ratio dpr.
func scaled(n int32, dpr float32) int {
	if dpr == 0 {
		return int(n)
	}
	return int(math.Round(float64(n) * float64(dpr)))
}

// Variants converts a validated spec into imaging options, with watermark
// assets from the default presets (see SetDefault).
func Variants(s *pb.ProcessingSpec) []imaging.Variant { return Default().Variants(s) }

// Variants converts a spec validated by p.Validate into imaging options.
func (p *Presets) Variants(s *pb.ProcessingSpec) []imaging.Variant {
	out := make([]imaging.Variant, 0, len(s.GetVariants()))
	for _, v := range s.GetVariants() {
		dpr := v.GetDpr()
		iv := imaging.Variant{
			Name:          v.GetName(),
			Width:         scaled(v.GetWidth(), dpr),
			Height:        scaled(v.GetHeight(), dpr),
			Fit:           fits[v.GetFit()],
			Gravity:       gravities[v.GetGravity()],
			Format:        outputFormats[v.GetFormat()],
			Quality:       int(v.GetQuality()),
			MaxBytes:      int(v.GetMaxBytes()),
			StripMetadata: v.StripMetadata == nil || v.GetStripMetadata(),
			KeepCopyright: v.GetKeepCopyright(),
			KeepICC:       v.GetKeepIcc(),
			AllowUpscale:  v.GetAllowUpscale(),
			Background:    [4]uint8{255, 255, 255, 255},
			Blur:          float64(v.GetEffects().GetBlurSigma()),
			Sharpen:       float64(v.GetEffects().GetSharpenSigma()),
			Still:         v.GetStill(),
		}
		if fp := v.GetFocalPoint(); fp != nil {
			iv.Focal = imaging.Point{X: float64(fp.GetX()), Y: float64(fp.GetY())}
		}
		if c := v.GetCrop(); c != nil {
			iv.Crop = &imaging.Rect{X: int(c.GetX()), Y: int(c.GetY()), Width: int(c.GetWidth()), Height: int(c.GetHeight())}
		}
		if b := v.GetBackground(); b != "" {
			iv.Background, _ = ParseColor(b)
		}
		if o := v.GetJpeg(); o != nil {
			iv.JPEG = imaging.JPEGOptions{Progressive: o.GetProgressive(), Subsampling: subsamplings[o.GetChromaSubsampling()]}
		}
		if o := v.GetPng(); o != nil {
			iv.PNG = imaging.PNGOptions{Palette: o.GetPalette(), Colours: int(o.GetColours())}
			if o.Compression != nil {
				c := int(o.GetCompression())
				iv.PNG.Compression = &c
			}
		}
		if o := v.GetWebp(); o != nil {
			iv.WebP.Lossless = o.GetLossless()
			if o.Effort != nil {
				e := int(o.GetEffort())
				iv.WebP.Effort = &e
			}
		}
		if o := v.GetAvif(); o != nil && o.Effort != nil {
			e := int(o.GetEffort())
			iv.AVIF.Effort = &e
		}
		if wm := v.GetWatermark(); wm != nil {
			iv.Watermark = &imaging.Watermark{
				Image:         p.watermarks[wm.GetAsset()],
				Position:      gravities[wm.GetPosition()],
				Margin:        scaled(wm.GetMargin(), dpr),
				Opacity:       float64(wm.GetOpacity()),
				RelativeWidth: float64(wm.GetRelativeWidth()),
			}
		}
		out = append(out, iv)
	}
	return out
}

// Limits returns lim tightened by the spec's own limits (its
// animation.max_frames).
func Limits(s *pb.ProcessingSpec, lim imaging.Limits) imaging.Limits {
	if n := int(s.GetAnimation().GetMaxFrames()); n > 0 {
		if lim.MaxFrames <= 0 {
			lim.MaxFrames = imaging.DefaultMaxFrames
		}
		lim.MaxFrames = min(lim.MaxFrames, n)
	}
	return lim
}

// FormatOf maps an imaging output format back to the API enum.
func FormatOf(f imaging.Format) pb.Format {
	for k, v := range outputFormats {
		if v == f {
			return k
		}
	}
	return pb.Format_FORMAT_UNSPECIFIED
}

var sourceFormats = map[sniff.Format]pb.Format{
	sniff.JPEG: pb.Format_FORMAT_JPEG,
	sniff.PNG:  pb.Format_FORMAT_PNG,
	sniff.WebP: pb.Format_FORMAT_WEBP,
	sniff.GIF:  pb.Format_FORMAT_GIF,
	sniff.TIFF: pb.Format_FORMAT_TIFF,
	sniff.HEIF: pb.Format_FORMAT_HEIF,
	sniff.AVIF: pb.Format_FORMAT_AVIF,
}

// SourceFormat maps a sniffed format onto the API enum; UNSPECIFIED for
// anything that is not an accepted original format.
func SourceFormat(f sniff.Format) pb.Format { return sourceFormats[f] }
