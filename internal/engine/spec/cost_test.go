package spec_test

import (
	"fmt"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc/codes"
)

// variants returns a spec of n variants v0…v(n-1), each made by mut from a
// 100×100 JPEG cover crop.
func variants(n int, mut func(i int, v *pb.VariantSpec)) *pb.ProcessingSpec {
	s := &pb.ProcessingSpec{}
	for i := range n {
		v := &pb.VariantSpec{Name: fmt.Sprintf("v%d", i), Width: 100, Height: 100, Fit: pb.Fit_FIT_COVER, Format: pb.Format_FORMAT_JPEG, Quality: 80}
		if mut != nil {
			mut(i, v)
		}
		s.Variants = append(s.Variants, v)
	}
	return s
}

// The cost limits refuse, at the edge, what would cost the processor too
// much, naming the field at fault.
func TestValidateCost(t *testing.T) {
	i32 := func(i int32) *int32 { return &i }
	side := func(w, h int32) func(int, *pb.VariantSpec) {
		return func(_ int, v *pb.VariantSpec) {
			v.Width, v.Height = w, h
			if w == 0 || h == 0 {
				v.Fit = pb.Fit_FIT_INSIDE
			}
		}
	}
	format := func(f pb.Format) func(int, *pb.VariantSpec) {
		return func(_ int, v *pb.VariantSpec) { v.Format = f }
	}
	lossless := func(_ int, v *pb.VariantSpec) {
		v.Format, v.Quality, v.Webp = pb.Format_FORMAT_WEBP, 0, &pb.WebpOptions{Lossless: true}
	}
	// The example: 16 variants of 8192 px with upscaling, blur σ
	// 100 and lossless WebP at effort 6.
	costly := variants(spec.MaxVariants, func(_ int, v *pb.VariantSpec) {
		v.Width, v.Height, v.AllowUpscale = 8192, 8192, true
		v.Effects = &pb.Effects{BlurSigma: 100}
		v.Format, v.Quality, v.Webp = pb.Format_FORMAT_WEBP, 0, &pb.WebpOptions{Lossless: true, Effort: i32(6)}
	})
	cases := []struct {
		name  string
		spec  *pb.ProcessingSpec
		field string // "" = valid
	}{
		{"the issue's example", costly, "spec.variants[0].width"},

		// Total output pixels (after dpr; a missing side counts as MaxDimension).
		{"100 MP exactly", variants(4, side(5000, 5000)), ""},
		{"over 100 MP", variants(5, side(5000, 4001)), "spec.variants"},
		{"16 of 8192 px", variants(spec.MaxVariants, side(8192, 8192)), "spec.variants"},
		{"dpr counts", variants(4, func(i int, v *pb.VariantSpec) { side(2500, 2500)(i, v); v.Dpr = 2.01 }), "spec.variants"},
		{"width only counts the height as 8192", variants(7, side(1800, 0)), "spec.variants"},
		{"width only within", variants(6, side(2000, 0)), ""},

		// Upscaling: each requested side after dpr at most 4096.
		{"upscale 4096", variants(1, func(i int, v *pb.VariantSpec) { side(4096, 4096)(i, v); v.AllowUpscale = true }), ""},
		{"upscale width", variants(1, func(i int, v *pb.VariantSpec) { side(4097, 100)(i, v); v.AllowUpscale = true }), "spec.variants[0].width"},
		{"upscale height", variants(1, func(i int, v *pb.VariantSpec) { side(0, 5000)(i, v); v.AllowUpscale = true }), "spec.variants[0].height"},
		{"upscale dpr", variants(1, func(i int, v *pb.VariantSpec) { side(3000, 100)(i, v); v.AllowUpscale, v.Dpr = true, 2 }), "spec.variants[0].dpr"},
		{"no upscale, 8192", variants(1, side(8192, 8192)), ""},

		// Effects.
		{"blur 20", variants(1, func(_ int, v *pb.VariantSpec) { v.Effects = &pb.Effects{BlurSigma: 20} }), ""},
		{"blur 20.5", variants(1, func(_ int, v *pb.VariantSpec) { v.Effects = &pb.Effects{BlurSigma: 20.5} }), "spec.variants[0].effects.blur_sigma"},
		{"blur 100", variants(1, func(_ int, v *pb.VariantSpec) { v.Effects = &pb.Effects{BlurSigma: 100} }), "spec.variants[0].effects.blur_sigma"},

		// Effort-heavy encoders.
		{"lossless webp effort 4", variants(1, func(i int, v *pb.VariantSpec) { lossless(i, v); v.Webp.Effort = i32(4) }), ""},
		{"lossless webp effort 5", variants(1, func(i int, v *pb.VariantSpec) { lossless(i, v); v.Webp.Effort = i32(5) }), "spec.variants[0].webp.effort"},
		{"lossy webp effort 6", variants(1, func(_ int, v *pb.VariantSpec) {
			v.Format, v.Webp = pb.Format_FORMAT_WEBP, &pb.WebpOptions{Effort: i32(6)}
		}), ""},
		{"4 avif", variants(4, format(pb.Format_FORMAT_AVIF)), ""},
		{"5 avif", variants(5, format(pb.Format_FORMAT_AVIF)), "spec.variants"},
		{"5 auto", variants(5, format(pb.Format_FORMAT_AUTO)), "spec.variants"},
		{"5 lossless webp", variants(5, lossless), "spec.variants"},
		{"2 avif, 2 auto, 1 lossless webp", variants(5, func(i int, v *pb.VariantSpec) {
			switch i {
			case 0, 1:
				v.Format = pb.Format_FORMAT_AVIF
			case 2, 3:
				v.Format = pb.Format_FORMAT_AUTO
			default:
				lossless(i, v)
			}
		}), "spec.variants"},
		{"4 avif and lossy webp", variants(spec.MaxVariants, func(i int, v *pb.VariantSpec) {
			if i < 4 {
				v.Format = pb.Format_FORMAT_AVIF
			} else {
				v.Format = pb.Format_FORMAT_WEBP
			}
		}), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := spec.Validate("spec", c.spec)
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != codes.InvalidArgument || e.Field != c.field || e.Reason != apperr.ReasonInvalidField {
				t.Fatalf("got %v (field %q), want INVALID_ARGUMENT naming %q", err, fieldOf(e), c.field)
			}
			if !strings.HasPrefix(e.Msg, c.field+": ") {
				t.Errorf("message %q does not start with the field", e.Msg)
			}
		})
	}
}

// Ingest and reprocess resolve an inline spec under "metadata": the
// refusals name the whole path, before anything is stored.
func TestResolveRefusesCostlySpec(t *testing.T) {
	cases := []struct {
		name  string
		spec  *pb.ProcessingSpec
		field string
	}{
		{"blur", variants(1, func(_ int, v *pb.VariantSpec) { v.Effects = &pb.Effects{BlurSigma: 100} }), "metadata.spec.variants[0].effects.blur_sigma"},
		{"total", variants(spec.MaxVariants, func(_ int, v *pb.VariantSpec) { v.Width, v.Height = 8192, 8192 }), "metadata.spec.variants"},
		{"upscale", variants(2, func(i int, v *pb.VariantSpec) {
			if i == 1 {
				v.Width, v.AllowUpscale = 8192, true
			}
		}), "metadata.spec.variants[1].width"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := spec.Builtin().Resolve("metadata", "", c.spec)
			if e, ok := apperr.As(err); !ok || e.Code != codes.InvalidArgument || e.Field != c.field {
				t.Fatalf("got %v, want INVALID_ARGUMENT naming %q", err, c.field)
			}
		})
	}
}

// The built-in presets keep within the cost limits.
func TestBuiltinPresetsWithinCostLimits(t *testing.T) {
	p := spec.Builtin()
	for _, pr := range p.List() {
		if err := p.Validate("spec", pr.GetSpec()); err != nil {
			t.Errorf("built-in preset %s: %v", pr.GetName(), err)
		}
	}
}
