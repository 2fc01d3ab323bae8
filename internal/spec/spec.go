// Package spec validates ProcessingSpecs and keeps the named presets. A spec
// is validated once, at the edge (ingest, reprocess), with errors naming the
// offending field; the processor then converts it into typed imaging options
// without re-checking.
package spec

import (
	"fmt"
	"regexp"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/apperr"
	"github.com/imagepipe/imagepipe/internal/imaging"
	"github.com/imagepipe/imagepipe/internal/sniff"
)

// Limits of a spec.
const (
	MaxVariants  = 16
	MaxDimension = 8192
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ValidName reports whether s is a valid variant (or preset) name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// outputFormats are the formats the processor can write.
var outputFormats = map[pb.Format]imaging.Format{
	pb.Format_FORMAT_JPEG: imaging.FormatJPEG,
	pb.Format_FORMAT_PNG:  imaging.FormatPNG,
	pb.Format_FORMAT_WEBP: imaging.FormatWebP,
}

var fits = map[pb.Fit]imaging.Fit{
	pb.Fit_FIT_UNSPECIFIED: imaging.FitInside,
	pb.Fit_FIT_INSIDE:      imaging.FitInside,
	pb.Fit_FIT_CONTAIN:     imaging.FitContain,
	pb.Fit_FIT_COVER:       imaging.FitCover,
	pb.Fit_FIT_FILL:        imaging.FitFill,
	pb.Fit_FIT_OUTSIDE:     imaging.FitOutside,
}

// Validate checks s and returns an *apperr.Error naming the first bad field,
// prefixed by field (e.g. "metadata.spec").
func Validate(field string, s *pb.ProcessingSpec) error {
	vs := s.GetVariants()
	if len(vs) == 0 {
		return apperr.InvalidField(field+".variants", "at least one variant is required")
	}
	if len(vs) > MaxVariants {
		return apperr.InvalidField(field+".variants", "at most %d variants, got %d", MaxVariants, len(vs))
	}
	seen := map[string]bool{}
	for i, v := range vs {
		f := fmt.Sprintf("%s.variants[%d]", field, i)
		if err := validateVariant(f, v); err != nil {
			return err
		}
		if seen[v.GetName()] {
			return apperr.InvalidField(f+".name", "duplicate variant name %q", v.GetName())
		}
		seen[v.GetName()] = true
	}
	return nil
}

func validateVariant(f string, v *pb.VariantSpec) error {
	if !ValidName(v.GetName()) {
		return apperr.InvalidField(f+".name", "must match %s, got %q", nameRE, v.GetName())
	}
	w, h := v.GetWidth(), v.GetHeight()
	if w < 0 || w > MaxDimension {
		return apperr.InvalidField(f+".width", "must be 0..%d, got %d", MaxDimension, w)
	}
	if h < 0 || h > MaxDimension {
		return apperr.InvalidField(f+".height", "must be 0..%d, got %d", MaxDimension, h)
	}
	if w == 0 && h == 0 {
		return apperr.InvalidField(f+".width", "width or height is required")
	}
	fit, ok := fits[v.GetFit()]
	if !ok {
		return apperr.InvalidField(f+".fit", "unknown fit %d", v.GetFit())
	}
	if (fit == imaging.FitContain || fit == imaging.FitCover || fit == imaging.FitFill) && (w == 0 || h == 0) {
		return apperr.InvalidField(f+".fit", "%s needs both width and height", v.GetFit())
	}
	if _, ok := outputFormats[v.GetFormat()]; !ok {
		if v.GetFormat() == pb.Format_FORMAT_UNSPECIFIED {
			return apperr.InvalidField(f+".format", "required: FORMAT_JPEG, FORMAT_PNG or FORMAT_WEBP")
		}
		return apperr.InvalidField(f+".format", "%s is not an output format: use FORMAT_JPEG, FORMAT_PNG or FORMAT_WEBP", v.GetFormat())
	}
	if q := v.GetQuality(); q < 0 || q > 100 {
		return apperr.InvalidField(f+".quality", "must be 0..100, got %d", q)
	}
	return nil
}

// Variants converts a validated spec into imaging options.
func Variants(s *pb.ProcessingSpec) []imaging.Variant {
	out := make([]imaging.Variant, 0, len(s.GetVariants()))
	for _, v := range s.GetVariants() {
		strip := true
		if v.StripMetadata != nil {
			strip = v.GetStripMetadata()
		}
		out = append(out, imaging.Variant{
			Name:          v.GetName(),
			Width:         int(v.GetWidth()),
			Height:        int(v.GetHeight()),
			Fit:           fits[v.GetFit()],
			Format:        outputFormats[v.GetFormat()],
			Quality:       int(v.GetQuality()),
			StripMetadata: strip,
			AllowUpscale:  v.GetAllowUpscale(),
			Background:    [4]uint8{255, 255, 255, 255},
		})
	}
	return out
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
