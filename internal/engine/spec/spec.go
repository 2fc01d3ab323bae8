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
	MaxBytesCeiling        = 50 << 20
	MinMaxBytes            = 100
	MaxFrames              = 1000
	MaxMargin              = 1000
	MinBlur, MaxBlur       = 0.3, 100
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
	for i, v := range vs {
		f := fmt.Sprintf("%s.variants[%d]", field, i)
		if err := p.validateVariant(f, v); err != nil {
			return err
		}
		if seen[v.GetName()] {
			return apperr.InvalidField(f+".name", "duplicate variant name %q", v.GetName())
		}
		seen[v.GetName()] = true
	}
	return nil
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

func (p *Presets) validateVariant(f string, v *pb.VariantSpec) error {
	bad := apperr.InvalidField
	if !ValidName(v.GetName()) {
		return bad(f+".name", "must match %s, got %q", nameRE, v.GetName())
	}

	// Geometry.
	w, h := v.GetWidth(), v.GetHeight()
	if w < 0 || w > MaxDimension {
		return bad(f+".width", "must be 0..%d, got %d", MaxDimension, w)
	}
	if h < 0 || h > MaxDimension {
		return bad(f+".height", "must be 0..%d, got %d", MaxDimension, h)
	}
	if w == 0 && h == 0 {
		return bad(f+".width", "width or height is required")
	}
	if d := v.GetDpr(); d != 0 {
		if !finite(d) || d < 1 || d > MaxDPR {
			return bad(f+".dpr", "must be 1..%d (or 0 for 1), got %v", MaxDPR, d)
		}
		if scaled(w, d) > MaxDimension || scaled(h, d) > MaxDimension {
			return bad(f+".dpr", "%dx%d at dpr %v exceeds %d pixels", w, h, d, MaxDimension)
		}
	}
	fit, ok := fits[v.GetFit()]
	if !ok {
		return bad(f+".fit", "unknown fit %d", v.GetFit())
	}
	if (fit == imaging.FitContain || fit == imaging.FitCover || fit == imaging.FitFill) && (w == 0 || h == 0) {
		return bad(f+".fit", "%s needs both width and height", v.GetFit())
	}
	g := v.GetGravity()
	if _, ok := gravities[g]; !ok {
		return bad(f+".gravity", "unknown gravity %d", g)
	}
	if g != pb.Gravity_GRAVITY_UNSPECIFIED {
		switch {
		case w == 0 || h == 0 || (fit != imaging.FitCover && fit != imaging.FitContain):
			return bad(f+".gravity", "only FIT_COVER and FIT_CONTAIN with both width and height crop or pad, so nothing to place")
		case fit == imaging.FitContain && !placing(g):
			return bad(f+".gravity", "FIT_CONTAIN only places the image: use GRAVITY_CENTRE or a compass point, not %s", g)
		}
	}
	if fp := v.GetFocalPoint(); fp != nil {
		if g != pb.Gravity_GRAVITY_FOCAL_POINT {
			return bad(f+".focal_point", "only used with GRAVITY_FOCAL_POINT")
		}
		if !finite(fp.GetX()) || fp.GetX() < 0 || fp.GetX() > 1 {
			return bad(f+".focal_point.x", "must be 0..1, got %v", fp.GetX())
		}
		if !finite(fp.GetY()) || fp.GetY() < 0 || fp.GetY() > 1 {
			return bad(f+".focal_point.y", "must be 0..1, got %v", fp.GetY())
		}
	} else if g == pb.Gravity_GRAVITY_FOCAL_POINT {
		return bad(f+".focal_point", "required with GRAVITY_FOCAL_POINT")
	}
	if c := v.GetCrop(); c != nil {
		switch {
		case c.GetX() < 0 || c.GetX() >= maxCropSide:
			return bad(f+".crop.x", "must be 0..%d, got %d", maxCropSide-1, c.GetX())
		case c.GetY() < 0 || c.GetY() >= maxCropSide:
			return bad(f+".crop.y", "must be 0..%d, got %d", maxCropSide-1, c.GetY())
		case c.GetWidth() < 1 || c.GetWidth() > maxCropSide:
			return bad(f+".crop.width", "must be 1..%d, got %d", maxCropSide, c.GetWidth())
		case c.GetHeight() < 1 || c.GetHeight() > maxCropSide:
			return bad(f+".crop.height", "must be 1..%d, got %d", maxCropSide, c.GetHeight())
		}
	}
	if err := validateEffects(f+".effects", v.GetEffects()); err != nil {
		return err
	}

	// Format and its options.
	format, ok := outputFormats[v.GetFormat()]
	if !ok {
		if v.GetFormat() == pb.Format_FORMAT_UNSPECIFIED {
			return bad(f+".format", "required: %s", outputFormatList)
		}
		return bad(f+".format", "%s is not an output format: use %s", v.GetFormat(), outputFormatList)
	}
	if err := validateFormatOptions(f, v, format); err != nil {
		return err
	}
	lossless := format == imaging.FormatWebP && v.GetWebp().GetLossless()
	if q := v.GetQuality(); q != 0 {
		switch {
		case q < 0 || q > 100:
			return bad(f+".quality", "must be 0..100, got %d", q)
		case lossless:
			return bad(f+".quality", "does not apply to lossless WebP")
		case format == imaging.FormatGIF || format == imaging.FormatPNG && !v.GetPng().GetPalette():
			return bad(f+".quality", "does not apply to %s (lossless); a palette PNG uses it for quantisation", v.GetFormat())
		}
	}
	if mb := v.GetMaxBytes(); mb != 0 {
		switch {
		case mb < MinMaxBytes || mb > MaxBytesCeiling:
			return bad(f+".max_bytes", "must be %d..%d (or 0 for no limit), got %d", MinMaxBytes, MaxBytesCeiling, mb)
		case lossless || format == imaging.FormatPNG || format == imaging.FormatGIF:
			return bad(f+".max_bytes", "needs a lossy format (JPEG, lossy WebP, AVIF or AUTO) whose quality can be lowered")
		}
	}
	if b := v.GetBackground(); b != "" {
		c, err := ParseColor(b)
		if err != nil {
			return bad(f+".background", "%v", err)
		}
		if c[3] != 255 && format == imaging.FormatJPEG {
			return bad(f+".background", "FORMAT_JPEG has no alpha: the background must be opaque")
		}
	}

	// Metadata.
	strip := v.StripMetadata == nil || v.GetStripMetadata()
	switch {
	case format == imaging.FormatGIF && !strip:
		return bad(f+".strip_metadata", "FORMAT_GIF holds no metadata")
	case v.GetKeepCopyright() && !strip:
		return bad(f+".keep_copyright", "strip_metadata is false: everything but GPS is kept anyway")
	case v.GetKeepCopyright() && format == imaging.FormatGIF:
		return bad(f+".keep_copyright", "FORMAT_GIF holds no metadata")
	case v.GetKeepCopyright() && format == imaging.FormatPNG:
		// libvips 8.14 writes PNG EXIF only from the raw EXIF block, which is
		// never kept (it holds GPS): the tags would be silently lost.
		return bad(f+".keep_copyright", "FORMAT_PNG output cannot carry the EXIF copyright tags; use JPEG, WebP, AVIF or AUTO")
	case v.GetKeepIcc() && !strip:
		return bad(f+".keep_icc", "strip_metadata is false: the ICC profile is kept anyway")
	case v.GetKeepIcc() && format == imaging.FormatGIF:
		return bad(f+".keep_icc", "FORMAT_GIF holds no ICC profile")
	}

	if wm := v.GetWatermark(); wm != nil {
		if err := p.validateWatermark(f+".watermark", wm); err != nil {
			return err
		}
	}
	if v.GetStill() && !format.Animates() {
		return bad(f+".still", "%s cannot animate: it always gets the first frame", v.GetFormat())
	}
	return nil
}

func validateFormatOptions(f string, v *pb.VariantSpec, format imaging.Format) error {
	bad := apperr.InvalidField
	wrong := func(field string) error {
		return bad(f+"."+field, "does not apply to %s", v.GetFormat())
	}
	if o := v.GetJpeg(); o != nil {
		if format != imaging.FormatJPEG {
			return wrong("jpeg")
		}
		if _, ok := subsamplings[o.GetChromaSubsampling()]; !ok {
			return bad(f+".jpeg.chroma_subsampling", "unknown value %d", o.GetChromaSubsampling())
		}
	}
	if o := v.GetPng(); o != nil {
		if format != imaging.FormatPNG {
			return wrong("png")
		}
		if o.Compression != nil && (o.GetCompression() < 0 || o.GetCompression() > 9) {
			return bad(f+".png.compression", "must be 0..9, got %d", o.GetCompression())
		}
		switch c := o.GetColours(); {
		case c == 0:
		case !o.GetPalette():
			return bad(f+".png.colours", "needs palette")
		case c != 2 && c != 4 && c != 16 && c != 256:
			return bad(f+".png.colours", "must be 2, 4, 16 or 256 (or 0 for 256), got %d", c)
		}
	}
	if o := v.GetWebp(); o != nil {
		if format != imaging.FormatWebP && format != imaging.FormatAuto {
			return wrong("webp")
		}
		if o.Effort != nil && (o.GetEffort() < 0 || o.GetEffort() > 6) {
			return bad(f+".webp.effort", "must be 0..6, got %d", o.GetEffort())
		}
		if o.GetLossless() && format == imaging.FormatAuto {
			return bad(f+".webp.lossless", "FORMAT_AUTO compares lossy encodings: pick FORMAT_WEBP for lossless")
		}
	}
	if o := v.GetAvif(); o != nil {
		if format != imaging.FormatAVIF && format != imaging.FormatAuto {
			return wrong("avif")
		}
		if o.Effort != nil && (o.GetEffort() < 1 || o.GetEffort() > 9) {
			return bad(f+".avif.effort", "must be 1..9, got %d", o.GetEffort())
		}
	}
	return nil
}

func validateEffects(f string, e *pb.Effects) error {
	if e == nil {
		return nil
	}
	if s := e.GetBlurSigma(); s != 0 && (!finite(s) || s < MinBlur || s > MaxBlur) {
		return apperr.InvalidField(f+".blur_sigma", "must be %v..%v (or 0 for none), got %v", MinBlur, MaxBlur, s)
	}
	if s := e.GetSharpenSigma(); s != 0 && (!finite(s) || s < MinSharpen || s > MaxSharpen) {
		return apperr.InvalidField(f+".sharpen_sigma", "must be %v..%v (or 0 for none), got %v", MinSharpen, MaxSharpen, s)
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
