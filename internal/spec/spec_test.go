package spec_test

import (
	"errors"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/apperr"
	"github.com/imagepipe/imagepipe/internal/imaging"
	"github.com/imagepipe/imagepipe/internal/spec"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

func variant(mut func(v *pb.VariantSpec)) *pb.ProcessingSpec {
	v := &pb.VariantSpec{Name: "v", Width: 100, Height: 100, Fit: pb.Fit_FIT_COVER, Format: pb.Format_FORMAT_JPEG, Quality: 80}
	if mut != nil {
		mut(v)
	}
	return &pb.ProcessingSpec{Variants: []*pb.VariantSpec{v}}
}

func TestValidate(t *testing.T) {
	many := &pb.ProcessingSpec{}
	for i := 0; i < spec.MaxVariants+1; i++ {
		many.Variants = append(many.Variants, &pb.VariantSpec{Name: string(rune('a' + i)), Width: 10, Format: pb.Format_FORMAT_PNG})
	}
	cases := []struct {
		name  string
		spec  *pb.ProcessingSpec
		field string // "" = valid
	}{
		{"valid cover", variant(nil), ""},
		{"valid width only inside", variant(func(v *pb.VariantSpec) { v.Height = 0; v.Fit = pb.Fit_FIT_INSIDE }), ""},
		{"valid height only, fit unset", variant(func(v *pb.VariantSpec) { v.Width = 0; v.Fit = pb.Fit_FIT_UNSPECIFIED }), ""},
		{"valid webp quality 0 = default", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_WEBP; v.Quality = 0 }), ""},
		{"no variants", &pb.ProcessingSpec{}, "spec.variants"},
		{"nil spec", nil, "spec.variants"},
		{"too many variants", many, "spec.variants"},
		{"empty name", variant(func(v *pb.VariantSpec) { v.Name = "" }), "spec.variants[0].name"},
		{"name with slash", variant(func(v *pb.VariantSpec) { v.Name = "a/b" }), "spec.variants[0].name"},
		{"name with dots", variant(func(v *pb.VariantSpec) { v.Name = ".." }), "spec.variants[0].name"},
		{"upper-case name", variant(func(v *pb.VariantSpec) { v.Name = "Thumb" }), "spec.variants[0].name"},
		{"name too long", variant(func(v *pb.VariantSpec) { v.Name = "abcdefghijabcdefghijabcdefghijabc" }), "spec.variants[0].name"},
		{"negative width", variant(func(v *pb.VariantSpec) { v.Width = -1 }), "spec.variants[0].width"},
		{"huge height", variant(func(v *pb.VariantSpec) { v.Height = spec.MaxDimension + 1 }), "spec.variants[0].height"},
		{"no size", variant(func(v *pb.VariantSpec) { v.Width, v.Height = 0, 0 }), "spec.variants[0].width"},
		{"cover needs both", variant(func(v *pb.VariantSpec) { v.Height = 0 }), "spec.variants[0].fit"},
		{"contain needs both", variant(func(v *pb.VariantSpec) { v.Width = 0; v.Fit = pb.Fit_FIT_CONTAIN }), "spec.variants[0].fit"},
		{"unknown fit", variant(func(v *pb.VariantSpec) { v.Fit = 42 }), "spec.variants[0].fit"},
		{"no format", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_UNSPECIFIED }), "spec.variants[0].format"},
		{"input-only format", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_TIFF }), "spec.variants[0].format"},
		{"quality above 100", variant(func(v *pb.VariantSpec) { v.Quality = 101 }), "spec.variants[0].quality"},
		{"negative quality", variant(func(v *pb.VariantSpec) { v.Quality = -5 }), "spec.variants[0].quality"},
		{"duplicate names", &pb.ProcessingSpec{Variants: []*pb.VariantSpec{
			{Name: "a", Width: 10, Format: pb.Format_FORMAT_PNG}, {Name: "a", Width: 20, Format: pb.Format_FORMAT_PNG}}}, "spec.variants[1].name"},
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
		})
	}
}

func fieldOf(e *apperr.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

func TestVariantsDefaults(t *testing.T) {
	vs := spec.Variants(variant(func(v *pb.VariantSpec) { v.Fit = pb.Fit_FIT_UNSPECIFIED; v.Height = 0 }))
	if len(vs) != 1 {
		t.Fatalf("%d variants", len(vs))
	}
	v := vs[0]
	if v.Fit != imaging.FitInside || !v.StripMetadata || v.AllowUpscale || v.Format != imaging.FormatJPEG || v.Width != 100 || v.Height != 0 {
		t.Errorf("converted %+v: want inside, strip, no upscale, jpeg 100x0", v)
	}
	keep := variant(func(v *pb.VariantSpec) { v.StripMetadata = proto.Bool(false) })
	if spec.Variants(keep)[0].StripMetadata {
		t.Error("strip_metadata=false not honoured")
	}
}

func TestPresets(t *testing.T) {
	p := spec.Builtin()
	name, sp, err := p.Resolve("metadata", "", nil)
	if err != nil || name != "default" || len(sp.GetVariants()) != 3 {
		t.Fatalf("no preset: %q %v %v, want the default preset", name, sp, err)
	}
	want := map[string]struct {
		w, h   int32
		fit    pb.Fit
		format pb.Format
	}{
		"thumb":  {64, 64, pb.Fit_FIT_COVER, pb.Format_FORMAT_PNG},
		"medium": {800, 800, pb.Fit_FIT_INSIDE, pb.Format_FORMAT_WEBP},
		"large":  {1600, 1600, pb.Fit_FIT_INSIDE, pb.Format_FORMAT_WEBP},
	}
	for _, v := range sp.GetVariants() {
		w := want[v.GetName()]
		if v.GetWidth() != w.w || v.GetHeight() != w.h || v.GetFit() != w.fit || v.GetFormat() != w.format || v.GetAllowUpscale() {
			t.Errorf("default preset variant %v", v)
		}
	}
	// Resolve hands out copies: changing one must not change the preset.
	sp.Variants[0].Width = 1
	if _, again, _ := p.Resolve("", "default", nil); again.GetVariants()[0].GetWidth() == 1 {
		t.Error("Resolve returned the preset itself, not a copy")
	}
	if _, _, err := p.Resolve("metadata", "nope", nil); fieldOf(asErr(err)) != "metadata.preset" {
		t.Errorf("unknown preset: %v", err)
	}
	if _, _, err := p.Resolve("metadata", "default", variant(nil)); fieldOf(asErr(err)) != "metadata.spec" {
		t.Errorf("preset and spec: %v", err)
	}
	if _, _, err := p.Resolve("", "", variant(func(v *pb.VariantSpec) { v.Quality = 500 })); fieldOf(asErr(err)) != "spec.variants[0].quality" {
		t.Errorf("bad inline spec: %v", err)
	}
	if _, err := spec.NewPresets([]*pb.Preset{{Name: "Bad Name", Spec: variant(nil)}}); err == nil {
		t.Error("a preset with an invalid name was accepted")
	}
}

func asErr(err error) *apperr.Error {
	var e *apperr.Error
	errors.As(err, &e)
	return e
}

func FuzzValidate(f *testing.F) {
	seed, _ := proto.Marshal(variant(nil))
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &pb.ProcessingSpec{}
		if proto.Unmarshal(data, s) != nil {
			return
		}
		if err := spec.Validate("spec", s); err != nil {
			if _, ok := apperr.As(err); !ok {
				t.Fatalf("Validate returned a non-apperr error: %v", err)
			}
			return
		}
		// Whatever validates converts into sane imaging options.
		for _, v := range spec.Variants(s) {
			if v.Width < 0 || v.Height < 0 || v.Width+v.Height == 0 || v.Quality < 0 || v.Quality > 100 || v.Format == "" {
				t.Fatalf("validated spec converts to %+v", v)
			}
		}
	})
}
