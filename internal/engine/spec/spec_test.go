package spec_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
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
	f32 := func(f float32) *float32 { return &f }
	i32 := func(i int32) *int32 { return &i }
	nan := float32(math.NaN())
	wm := func(mut func(w *pb.Watermark)) func(v *pb.VariantSpec) {
		return func(v *pb.VariantSpec) {
			v.Watermark = &pb.Watermark{Asset: "logo"}
			if mut != nil {
				mut(v.Watermark)
			}
		}
	}
	type tc struct {
		name  string
		spec  *pb.ProcessingSpec
		field string // "" = valid
	}
	cases := []tc{
		// Existing rules.
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
		{"heif is input only", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_HEIF }), "spec.variants[0].format"},
		{"unknown format", variant(func(v *pb.VariantSpec) { v.Format = 99 }), "spec.variants[0].format"},
		{"quality above 100", variant(func(v *pb.VariantSpec) { v.Quality = 101 }), "spec.variants[0].quality"},
		{"negative quality", variant(func(v *pb.VariantSpec) { v.Quality = -5 }), "spec.variants[0].quality"},
		{"duplicate names", &pb.ProcessingSpec{Variants: []*pb.VariantSpec{
			{Name: "a", Width: 10, Format: pb.Format_FORMAT_PNG}, {Name: "a", Width: 20, Format: pb.Format_FORMAT_PNG}}}, "spec.variants[1].name"},

		// Output formats and their options.
		{"avif", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_AVIF; v.Avif = &pb.AvifOptions{Effort: i32(9)} }), ""},
		{"gif", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_GIF; v.Quality = 0 }), ""},
		{"auto with webp and avif options", variant(func(v *pb.VariantSpec) {
			v.Format = pb.Format_FORMAT_AUTO
			v.Webp = &pb.WebpOptions{Effort: i32(2)}
			v.Avif = &pb.AvifOptions{Effort: i32(3)}
			v.MaxBytes = 50000
		}), ""},
		{"jpeg options", variant(func(v *pb.VariantSpec) {
			v.Jpeg = &pb.JpegOptions{Progressive: true, ChromaSubsampling: pb.ChromaSubsampling_CHROMA_SUBSAMPLING_444}
		}), ""},
		{"jpeg options on png", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_PNG; v.Quality = 0; v.Jpeg = &pb.JpegOptions{} }), "spec.variants[0].jpeg"},
		{"bad chroma subsampling", variant(func(v *pb.VariantSpec) { v.Jpeg = &pb.JpegOptions{ChromaSubsampling: 7} }), "spec.variants[0].jpeg.chroma_subsampling"},
		{"png options on jpeg", variant(func(v *pb.VariantSpec) { v.Png = &pb.PngOptions{} }), "spec.variants[0].png"},
		{"png compression 0", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.Png = pb.Format_FORMAT_PNG, 0, &pb.PngOptions{Compression: i32(0)}
		}), ""},
		{"png compression 10", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.Png = pb.Format_FORMAT_PNG, 0, &pb.PngOptions{Compression: i32(10)}
		}), "spec.variants[0].png.compression"},
		{"png palette with quality and colours", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.Png = pb.Format_FORMAT_PNG, 70, &pb.PngOptions{Palette: true, Colours: 16}
		}), ""},
		{"png colours without palette", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.Png = pb.Format_FORMAT_PNG, 0, &pb.PngOptions{Colours: 16}
		}), "spec.variants[0].png.colours"},
		{"png colours not a bit depth", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.Png = pb.Format_FORMAT_PNG, 0, &pb.PngOptions{Palette: true, Colours: 10}
		}), "spec.variants[0].png.colours"},
		{"quality on plain png", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_PNG; v.Quality = 80 }), "spec.variants[0].quality"},
		{"quality on gif", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_GIF; v.Quality = 80 }), "spec.variants[0].quality"},
		{"webp options on jpeg", variant(func(v *pb.VariantSpec) { v.Webp = &pb.WebpOptions{} }), "spec.variants[0].webp"},
		{"webp effort 7", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_WEBP; v.Webp = &pb.WebpOptions{Effort: i32(7)} }), "spec.variants[0].webp.effort"},
		{"lossless webp", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.Webp = pb.Format_FORMAT_WEBP, 0, &pb.WebpOptions{Lossless: true, Effort: i32(0)}
		}), ""},
		{"quality on lossless webp", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.Webp = pb.Format_FORMAT_WEBP, 80, &pb.WebpOptions{Lossless: true}
		}), "spec.variants[0].quality"},
		{"lossless auto", variant(func(v *pb.VariantSpec) {
			v.Format, v.Webp = pb.Format_FORMAT_AUTO, &pb.WebpOptions{Lossless: true}
		}), "spec.variants[0].webp.lossless"},
		{"avif options on webp", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_WEBP; v.Avif = &pb.AvifOptions{} }), "spec.variants[0].avif"},
		{"avif effort 0", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_AVIF; v.Avif = &pb.AvifOptions{Effort: i32(0)} }), "spec.variants[0].avif.effort"},
		{"avif effort 10", variant(func(v *pb.VariantSpec) { v.Format = pb.Format_FORMAT_AVIF; v.Avif = &pb.AvifOptions{Effort: i32(10)} }), "spec.variants[0].avif.effort"},

		// max_bytes.
		{"max bytes jpeg", variant(func(v *pb.VariantSpec) { v.MaxBytes = 20000 }), ""},
		{"max bytes too small", variant(func(v *pb.VariantSpec) { v.MaxBytes = 99 }), "spec.variants[0].max_bytes"},
		{"max bytes too large", variant(func(v *pb.VariantSpec) { v.MaxBytes = spec.MaxBytesCeiling + 1 }), "spec.variants[0].max_bytes"},
		{"max bytes negative", variant(func(v *pb.VariantSpec) { v.MaxBytes = -1 }), "spec.variants[0].max_bytes"},
		{"max bytes png", variant(func(v *pb.VariantSpec) { v.Format, v.Quality, v.MaxBytes = pb.Format_FORMAT_PNG, 0, 5000 }), "spec.variants[0].max_bytes"},
		{"max bytes gif", variant(func(v *pb.VariantSpec) { v.Format, v.Quality, v.MaxBytes = pb.Format_FORMAT_GIF, 0, 5000 }), "spec.variants[0].max_bytes"},
		{"max bytes lossless webp", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.MaxBytes, v.Webp = pb.Format_FORMAT_WEBP, 0, 5000, &pb.WebpOptions{Lossless: true}
		}), "spec.variants[0].max_bytes"},

		// Geometry: gravity, focal point, crop, dpr.
		{"cover with compass gravity", variant(func(v *pb.VariantSpec) { v.Gravity = pb.Gravity_GRAVITY_NORTH_EAST }), ""},
		{"cover with smart gravity", variant(func(v *pb.VariantSpec) { v.Gravity = pb.Gravity_GRAVITY_SMART_ENTROPY }), ""},
		{"contain with compass gravity", variant(func(v *pb.VariantSpec) { v.Fit = pb.Fit_FIT_CONTAIN; v.Gravity = pb.Gravity_GRAVITY_SOUTH }), ""},
		{"contain with smart gravity", variant(func(v *pb.VariantSpec) { v.Fit = pb.Fit_FIT_CONTAIN; v.Gravity = pb.Gravity_GRAVITY_SMART_ATTENTION }), "spec.variants[0].gravity"},
		{"inside with gravity", variant(func(v *pb.VariantSpec) { v.Fit = pb.Fit_FIT_INSIDE; v.Gravity = pb.Gravity_GRAVITY_NORTH }), "spec.variants[0].gravity"},
		{"fill with gravity", variant(func(v *pb.VariantSpec) { v.Fit = pb.Fit_FIT_FILL; v.Gravity = pb.Gravity_GRAVITY_CENTRE }), "spec.variants[0].gravity"},
		{"one-sided box with gravity", variant(func(v *pb.VariantSpec) {
			v.Fit, v.Height, v.Gravity = pb.Fit_FIT_INSIDE, 0, pb.Gravity_GRAVITY_CENTRE
		}), "spec.variants[0].gravity"},
		{"unknown gravity", variant(func(v *pb.VariantSpec) { v.Gravity = 77 }), "spec.variants[0].gravity"},
		{"focal point", variant(func(v *pb.VariantSpec) {
			v.Gravity, v.FocalPoint = pb.Gravity_GRAVITY_FOCAL_POINT, &pb.FocalPoint{X: 0.2, Y: 1}
		}), ""},
		{"focal gravity without point", variant(func(v *pb.VariantSpec) { v.Gravity = pb.Gravity_GRAVITY_FOCAL_POINT }), "spec.variants[0].focal_point"},
		{"focal point without its gravity", variant(func(v *pb.VariantSpec) { v.FocalPoint = &pb.FocalPoint{X: 0.5, Y: 0.5} }), "spec.variants[0].focal_point"},
		{"focal x above 1", variant(func(v *pb.VariantSpec) {
			v.Gravity, v.FocalPoint = pb.Gravity_GRAVITY_FOCAL_POINT, &pb.FocalPoint{X: 1.1, Y: 0.5}
		}), "spec.variants[0].focal_point.x"},
		{"focal y NaN", variant(func(v *pb.VariantSpec) {
			v.Gravity, v.FocalPoint = pb.Gravity_GRAVITY_FOCAL_POINT, &pb.FocalPoint{X: 0.5, Y: nan}
		}), "spec.variants[0].focal_point.y"},
		{"focal point with contain", variant(func(v *pb.VariantSpec) {
			v.Fit, v.Gravity, v.FocalPoint = pb.Fit_FIT_CONTAIN, pb.Gravity_GRAVITY_FOCAL_POINT, &pb.FocalPoint{X: 0.5, Y: 0.5}
		}), "spec.variants[0].gravity"},
		{"crop", variant(func(v *pb.VariantSpec) { v.Crop = &pb.CropRect{X: 10, Y: 0, Width: 100, Height: 50} }), ""},
		{"crop negative x", variant(func(v *pb.VariantSpec) { v.Crop = &pb.CropRect{X: -1, Width: 10, Height: 10} }), "spec.variants[0].crop.x"},
		{"crop negative y", variant(func(v *pb.VariantSpec) { v.Crop = &pb.CropRect{Y: -1, Width: 10, Height: 10} }), "spec.variants[0].crop.y"},
		{"crop empty", variant(func(v *pb.VariantSpec) { v.Crop = &pb.CropRect{Width: 0, Height: 10} }), "spec.variants[0].crop.width"},
		{"crop no height", variant(func(v *pb.VariantSpec) { v.Crop = &pb.CropRect{Width: 10} }), "spec.variants[0].crop.height"},
		{"crop absurd", variant(func(v *pb.VariantSpec) { v.Crop = &pb.CropRect{Width: 1 << 20, Height: 10} }), "spec.variants[0].crop.width"},
		{"dpr 2", variant(func(v *pb.VariantSpec) { v.Dpr = 2 }), ""},
		{"dpr 0.5", variant(func(v *pb.VariantSpec) { v.Dpr = 0.5 }), "spec.variants[0].dpr"},
		{"dpr 5", variant(func(v *pb.VariantSpec) { v.Dpr = 5 }), "spec.variants[0].dpr"},
		{"dpr NaN", variant(func(v *pb.VariantSpec) { v.Dpr = nan }), "spec.variants[0].dpr"},
		{"dpr over the max dimension", variant(func(v *pb.VariantSpec) { v.Width = 5000; v.Dpr = 2 }), "spec.variants[0].dpr"},

		// Background.
		{"background rgb", variant(func(v *pb.VariantSpec) { v.Background = "#A0b1C2" }), ""},
		{"transparent background for png", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.Background = pb.Format_FORMAT_PNG, 0, "#ffffff00"
		}), ""},
		{"transparent background for jpeg", variant(func(v *pb.VariantSpec) { v.Background = "#ffffff80" }), "spec.variants[0].background"},
		{"background name", variant(func(v *pb.VariantSpec) { v.Background = "white" }), "spec.variants[0].background"},
		{"background not hex", variant(func(v *pb.VariantSpec) { v.Background = "#gg0000" }), "spec.variants[0].background"},
		{"background short", variant(func(v *pb.VariantSpec) { v.Background = "#fff" }), "spec.variants[0].background"},

		// Metadata.
		{"keep copyright", variant(func(v *pb.VariantSpec) { v.KeepCopyright = true }), ""},
		{"keep icc", variant(func(v *pb.VariantSpec) { v.KeepIcc = true; v.StripMetadata = proto.Bool(true) }), ""},
		{"keep copyright without stripping", variant(func(v *pb.VariantSpec) { v.KeepCopyright = true; v.StripMetadata = proto.Bool(false) }), "spec.variants[0].keep_copyright"},
		{"keep icc without stripping", variant(func(v *pb.VariantSpec) { v.KeepIcc = true; v.StripMetadata = proto.Bool(false) }), "spec.variants[0].keep_icc"},
		{"keep copyright png", variant(func(v *pb.VariantSpec) { v.Format, v.Quality, v.KeepCopyright = pb.Format_FORMAT_PNG, 0, true }), "spec.variants[0].keep_copyright"},
		{"keep icc png", variant(func(v *pb.VariantSpec) { v.Format, v.Quality, v.KeepIcc = pb.Format_FORMAT_PNG, 0, true }), ""},
		{"keep icc gif", variant(func(v *pb.VariantSpec) { v.Format, v.Quality, v.KeepIcc = pb.Format_FORMAT_GIF, 0, true }), "spec.variants[0].keep_icc"},
		{"metadata kept in gif", variant(func(v *pb.VariantSpec) {
			v.Format, v.Quality, v.StripMetadata = pb.Format_FORMAT_GIF, 0, proto.Bool(false)
		}), "spec.variants[0].strip_metadata"},

		// Effects.
		{"blur and sharpen", variant(func(v *pb.VariantSpec) { v.Effects = &pb.Effects{BlurSigma: 2, SharpenSigma: 1} }), ""},
		{"blur too small", variant(func(v *pb.VariantSpec) { v.Effects = &pb.Effects{BlurSigma: 0.1} }), "spec.variants[0].effects.blur_sigma"},
		{"blur too large", variant(func(v *pb.VariantSpec) { v.Effects = &pb.Effects{BlurSigma: 101} }), "spec.variants[0].effects.blur_sigma"},
		{"blur negative", variant(func(v *pb.VariantSpec) { v.Effects = &pb.Effects{BlurSigma: -1} }), "spec.variants[0].effects.blur_sigma"},
		{"sharpen too large", variant(func(v *pb.VariantSpec) { v.Effects = &pb.Effects{SharpenSigma: 11} }), "spec.variants[0].effects.sharpen_sigma"},
		{"sharpen NaN", variant(func(v *pb.VariantSpec) { v.Effects = &pb.Effects{SharpenSigma: nan} }), "spec.variants[0].effects.sharpen_sigma"},

		// Watermark (the "logo" asset exists in these presets).
		{"watermark", variant(wm(func(w *pb.Watermark) {
			w.Position, w.Margin, w.Opacity, w.RelativeWidth = pb.Gravity_GRAVITY_NORTH_WEST, 10, f32(0.5), 0.2
		})), ""},
		{"watermark defaults", variant(wm(nil)), ""},
		{"watermark without asset", variant(wm(func(w *pb.Watermark) { w.Asset = "" })), "spec.variants[0].watermark.asset"},
		{"watermark unknown asset", variant(wm(func(w *pb.Watermark) { w.Asset = "nope" })), "spec.variants[0].watermark.asset"},
		{"watermark smart position", variant(wm(func(w *pb.Watermark) { w.Position = pb.Gravity_GRAVITY_SMART_ATTENTION })), "spec.variants[0].watermark.position"},
		{"watermark unknown position", variant(wm(func(w *pb.Watermark) { w.Position = 99 })), "spec.variants[0].watermark.position"},
		{"watermark margin", variant(wm(func(w *pb.Watermark) { w.Margin = spec.MaxMargin + 1 })), "spec.variants[0].watermark.margin"},
		{"watermark opacity 0", variant(wm(func(w *pb.Watermark) { w.Opacity = f32(0) })), "spec.variants[0].watermark.opacity"},
		{"watermark opacity above 1", variant(wm(func(w *pb.Watermark) { w.Opacity = f32(1.5) })), "spec.variants[0].watermark.opacity"},
		{"watermark relative width", variant(wm(func(w *pb.Watermark) { w.RelativeWidth = 1.01 })), "spec.variants[0].watermark.relative_width"},

		// Animation.
		{"still webp", variant(func(v *pb.VariantSpec) { v.Format, v.Still = pb.Format_FORMAT_WEBP, true }), ""},
		{"still jpeg", variant(func(v *pb.VariantSpec) { v.Still = true }), "spec.variants[0].still"},
		{"max frames", &pb.ProcessingSpec{Variants: variant(nil).Variants, Animation: &pb.AnimationOptions{MaxFrames: 20}}, ""},
		{"max frames too many", &pb.ProcessingSpec{Variants: variant(nil).Variants, Animation: &pb.AnimationOptions{MaxFrames: spec.MaxFrames + 1}}, "spec.animation.max_frames"},
		{"max frames negative", &pb.ProcessingSpec{Variants: variant(nil).Variants, Animation: &pb.AnimationOptions{MaxFrames: -1}}, "spec.animation.max_frames"},
	}
	presets := withLogo(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := presets.Validate("spec", c.spec)
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				// Whatever validates also converts and passes imaging's own
				// sanity checks (no ErrInvalidVariant at processing time).
				for _, v := range presets.Variants(c.spec) {
					if _, err := imaging.Process(context.Background(), nil, []imaging.Variant{v}, imaging.Limits{}); errors.Is(err, imaging.ErrInvalidVariant) {
						t.Fatalf("converted variant refused by imaging: %v", err)
					}
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
	// Without the presets that define it, the asset is unknown.
	if err := spec.Builtin().Validate("spec", variant(wm(nil))); fieldOf(asErr(err)) != "spec.variants[0].watermark.asset" {
		t.Errorf("watermark with the built-in presets: %v", err)
	}
}

// withLogo returns presets with the test watermark registered as "logo".
func withLogo(t testing.TB) *spec.Presets {
	t.Helper()
	logo := imagetest.TestdataPath(t, "presets/logo.png")
	p, err := spec.ParsePresets([]byte(`{"watermarks": {"logo": "logo.png"}}`), func(path string) ([]byte, error) {
		if path != "logo.png" {
			return nil, fmt.Errorf("unexpected path %q", path)
		}
		return os.ReadFile(logo)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
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
	if v.Fit != imaging.FitInside || !v.StripMetadata || v.AllowUpscale || v.Format != imaging.FormatJPEG || v.Width != 100 || v.Height != 0 ||
		v.Gravity != imaging.GravityDefault || v.Crop != nil || v.Watermark != nil || v.Background != [4]uint8{255, 255, 255, 255} ||
		v.PNG.Compression != nil || v.WebP.Effort != nil || v.AVIF.Effort != nil || v.MaxBytes != 0 || v.Still || v.KeepICC || v.KeepCopyright {
		t.Errorf("converted %+v: want inside, strip, no upscale, jpeg 100x0, defaults elsewhere", v)
	}
	keep := variant(func(v *pb.VariantSpec) { v.StripMetadata = proto.Bool(false) })
	if spec.Variants(keep)[0].StripMetadata {
		t.Error("strip_metadata=false not honoured")
	}
}

func TestVariantsConversion(t *testing.T) {
	i32 := func(i int32) *int32 { return &i }
	f32 := func(f float32) *float32 { return &f }
	presets := withLogo(t)
	s := &pb.ProcessingSpec{Variants: []*pb.VariantSpec{{
		Name: "a", Width: 300, Height: 200, Dpr: 2, Fit: pb.Fit_FIT_COVER, Gravity: pb.Gravity_GRAVITY_FOCAL_POINT,
		FocalPoint: &pb.FocalPoint{X: 0.25, Y: 0.75}, Crop: &pb.CropRect{X: 1, Y: 2, Width: 30, Height: 40},
		Format: pb.Format_FORMAT_JPEG, Quality: 70, MaxBytes: 9000, Background: "#10203040",
		Jpeg:          &pb.JpegOptions{Progressive: true, ChromaSubsampling: pb.ChromaSubsampling_CHROMA_SUBSAMPLING_444},
		KeepCopyright: true, KeepIcc: true, AllowUpscale: true,
		Effects:   &pb.Effects{BlurSigma: 1.5, SharpenSigma: 0.5},
		Watermark: &pb.Watermark{Asset: "logo", Position: pb.Gravity_GRAVITY_NORTH, Margin: 8, Opacity: f32(0.5), RelativeWidth: 0.25},
	}, {
		Name: "b", Width: 333, Dpr: 1.5, Format: pb.Format_FORMAT_PNG, Png: &pb.PngOptions{Compression: i32(0), Palette: true, Colours: 16},
	}, {
		Name: "c", Height: 50, Format: pb.Format_FORMAT_AUTO, Webp: &pb.WebpOptions{Effort: i32(0)}, Avif: &pb.AvifOptions{Effort: i32(2)}, Still: true,
	}, {
		Name: "d", Width: 10, Format: pb.Format_FORMAT_WEBP, Webp: &pb.WebpOptions{Lossless: true},
	}}}
	// The background above is translucent: not for JPEG. Use it on a PNG.
	s.Variants[0].Background = "#102030"
	if err := presets.Validate("spec", s); err != nil {
		t.Fatal(err)
	}
	vs := presets.Variants(s)
	a := vs[0]
	if a.Width != 600 || a.Height != 400 || a.Fit != imaging.FitCover || a.Gravity != imaging.GravityFocalPoint ||
		a.Focal != (imaging.Point{X: 0.25, Y: 0.75}) || *a.Crop != (imaging.Rect{X: 1, Y: 2, Width: 30, Height: 40}) ||
		a.Quality != 70 || a.MaxBytes != 9000 || a.Background != [4]uint8{0x10, 0x20, 0x30, 0xff} ||
		a.JPEG != (imaging.JPEGOptions{Progressive: true, Subsampling: imaging.Subsampling444}) ||
		!a.KeepCopyright || !a.KeepICC || !a.AllowUpscale || a.Blur != 1.5 || a.Sharpen != 0.5 {
		t.Errorf("a: %+v", a)
	}
	if w := a.Watermark; w == nil || w.Image == nil || w.Position != imaging.GravityNorth || w.Margin != 16 || w.Opacity != 0.5 || w.RelativeWidth != 0.25 {
		t.Errorf("a: watermark %+v (margin is multiplied by dpr)", w)
	}
	b := vs[1]
	if b.Width != 500 || b.Height != 0 || b.PNG.Compression == nil || *b.PNG.Compression != 0 || !b.PNG.Palette || b.PNG.Colours != 16 {
		t.Errorf("b: %+v", b)
	}
	c := vs[2]
	if c.Format != imaging.FormatAuto || c.Height != 50 || *c.WebP.Effort != 0 || *c.AVIF.Effort != 2 || !c.Still {
		t.Errorf("c: %+v", c)
	}
	if d := vs[3]; !d.WebP.Lossless || d.WebP.Effort != nil {
		t.Errorf("d: %+v", d)
	}

	// spec.Limits: the spec can only tighten the processor's limits.
	lim := imaging.Limits{MaxPixels: 10}
	if got := spec.Limits(s, lim); got != lim {
		t.Errorf("no animation options: %+v", got)
	}
	s.Animation = &pb.AnimationOptions{MaxFrames: 20}
	if got := spec.Limits(s, lim); got.MaxFrames != 20 || got.MaxPixels != 10 {
		t.Errorf("max_frames 20: %+v", got)
	}
	if got := spec.Limits(s, imaging.Limits{MaxFrames: 5}); got.MaxFrames != 5 {
		t.Errorf("max_frames 20 under a server limit of 5: %+v", got)
	}
	s.Animation.MaxFrames = 999
	if got := spec.Limits(s, imaging.Limits{}); got.MaxFrames != imaging.DefaultMaxFrames {
		t.Errorf("max_frames 999 over the default: %+v", got)
	}
	for f, want := range map[imaging.Format]pb.Format{imaging.FormatAVIF: pb.Format_FORMAT_AVIF, imaging.FormatGIF: pb.Format_FORMAT_GIF, imaging.FormatWebP: pb.Format_FORMAT_WEBP} {
		if got := spec.FormatOf(f); got != want {
			t.Errorf("FormatOf(%s) = %s", f, got)
		}
	}
}

func TestParseColor(t *testing.T) {
	for in, want := range map[string][4]uint8{"#000000": {0, 0, 0, 255}, "#FFfF00": {255, 255, 0, 255}, "#01020304": {1, 2, 3, 4}} {
		if got, err := spec.ParseColor(in); err != nil || got != want {
			t.Errorf("ParseColor(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "#", "000000", "#00000", "#0000000", "#gggggg", "#+1+1+1", "# 12345"} {
		if _, err := spec.ParseColor(bad); err == nil {
			t.Errorf("ParseColor(%q) accepted", bad)
		}
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

func TestBuiltinPresets(t *testing.T) {
	p := spec.Builtin()
	var names []string
	for _, pr := range p.List() {
		names = append(names, pr.GetName())
	}
	if strings.Join(names, ",") != "default,avatar,web" {
		t.Errorf("List() = %v, want the default first, then by name", names)
	}

	_, avatar, err := p.Resolve("", "avatar", nil)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int32{"100": 100, "200": 200, "600": 600}
	if len(avatar.GetVariants()) != len(sizes) {
		t.Fatalf("avatar: %d variants", len(avatar.GetVariants()))
	}
	for _, v := range avatar.GetVariants() {
		if s := sizes[v.GetName()]; v.GetWidth() != s || v.GetHeight() != s || v.GetFit() != pb.Fit_FIT_COVER ||
			v.GetFormat() != pb.Format_FORMAT_PNG || v.GetAllowUpscale() {
			t.Errorf("avatar variant %v: want a %d px square PNG cover crop", v, s)
		}
	}

	_, web, err := p.Resolve("", "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*pb.VariantSpec{}
	for _, v := range web.GetVariants() {
		got[v.GetName()] = v
	}
	if len(got) != 2*len(spec.WebWidths) {
		t.Fatalf("web: %d variants", len(got))
	}
	for _, w := range spec.WebWidths {
		for suffix, f := range map[string]pb.Format{"webp": pb.Format_FORMAT_WEBP, "jpeg": pb.Format_FORMAT_JPEG} {
			v := got[fmt.Sprintf("w%d-%s", w, suffix)]
			if v.GetWidth() != w || v.GetHeight() != 0 || v.GetFormat() != f || v.GetAllowUpscale() {
				t.Errorf("web w%d %s: %v", w, suffix, v)
			}
		}
	}

	// Every built-in converts into variants imaging accepts, and renders.
	src := imagetest.Fixture(t, "dandelion.jpg")
	for _, name := range names {
		_, sp, _ := p.Resolve("", name, nil)
		res, err := imaging.Process(context.Background(), src, p.Variants(sp), spec.Limits(sp, imaging.Limits{}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, out := range res.Variants {
			v := sp.GetVariants()[i]
			if spec.FormatOf(out.Format) != v.GetFormat() {
				t.Errorf("%s/%s: %s", name, v.GetName(), out.Format)
			}
			if want := int(v.GetWidth()); want > 0 && out.Width != min(want, 1600) {
				t.Errorf("%s/%s: %dx%d", name, v.GetName(), out.Width, out.Height)
			}
			if info := imagetest.Decode(t, out.Data); info.HasMetadata() {
				t.Errorf("%s/%s: metadata not stripped", name, v.GetName())
			}
		}
	}
}

func TestLoadPresets(t *testing.T) {
	p, err := spec.LoadPresets(imagetest.TestdataPath(t, "presets/presets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pr := range p.List() {
		names = append(names, pr.GetName())
	}
	if strings.Join(names, ",") != "default,avatar,hero,web" {
		t.Errorf("presets %v: want the file's merged over the built-ins", names)
	}
	if w := p.Watermarks(); len(w) != 1 || w[0] != "logo" {
		t.Errorf("watermarks %v", w)
	}
	// The file's "default" replaces the built-in.
	_, def, _ := p.Resolve("", "", nil)
	if len(def.GetVariants()) != 1 || def.GetVariants()[0].GetWidth() != 800 {
		t.Errorf("default: %v", def)
	}
	// The hero preset uses the logo; inline specs may too.
	_, hero, err := p.Resolve("metadata", "hero", nil)
	if err != nil {
		t.Fatal(err)
	}
	vs := p.Variants(hero)
	if vs[0].Watermark == nil || vs[0].Watermark.Image == nil || vs[1].Width != 800 || vs[1].MaxBytes != 150000 {
		t.Fatalf("hero converts to %+v", vs)
	}
	if _, _, err := p.Resolve("metadata", "", &pb.ProcessingSpec{Variants: []*pb.VariantSpec{{
		Name: "x", Width: 100, Format: pb.Format_FORMAT_PNG, Watermark: &pb.Watermark{Asset: "logo"}}}}); err != nil {
		t.Errorf("inline spec with the logo: %v", err)
	}
	res, err := imaging.Process(context.Background(), imagetest.Fixture(t, "dandelion.jpg"), vs, imaging.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b, r := res.Variants[0], res.Variants[1]; b.Width != 1200 || b.Height != 600 || len(r.Data) > 150000 || r.Width != 800 {
		t.Errorf("hero: banner %dx%d, retina %dx%d %d bytes", b.Width, b.Height, r.Width, r.Height, len(r.Data))
	}

	// SetDefault makes the package-level functions (used by the processor)
	// know the assets.
	inline := &pb.ProcessingSpec{Variants: []*pb.VariantSpec{{Name: "x", Width: 100, Format: pb.Format_FORMAT_PNG, Watermark: &pb.Watermark{Asset: "logo"}}}}
	defer spec.SetDefault(spec.Default())
	spec.SetDefault(spec.Builtin())
	if err := spec.Validate("spec", inline); err == nil {
		t.Error("the built-in default presets know the logo")
	}
	spec.SetDefault(p)
	if err := spec.Validate("spec", inline); err != nil {
		t.Errorf("after SetDefault: %v", err)
	}
	if v := spec.Variants(inline); v[0].Watermark == nil || v[0].Watermark.Image == nil {
		t.Error("spec.Variants does not resolve the asset after SetDefault")
	}
}

func TestLoadPresetsErrors(t *testing.T) {
	logo, err := os.ReadFile(imagetest.TestdataPath(t, "presets/logo.png"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) ([]byte, error) {
		switch path {
		case "logo.png":
			return logo, nil
		case "text.png":
			return []byte("not an image"), nil
		}
		return nil, os.ErrNotExist
	}
	good := `{"name": "p", "spec": {"variants": [{"name": "a", "width": 10, "format": "FORMAT_PNG"}]}}`
	cases := []struct {
		name, json string
		want       []string // substrings of the error
	}{
		{"not json", `{`, []string{"not a presets file"}},
		{"unknown top-level key", `{"presetz": []}`, []string{"presetz"}},
		{"trailing data", `{} {}`, []string{"trailing"}},
		{"unknown field in a preset", `{"presets": [{"name": "p", "spec": {"variants": [{"name": "a", "widht": 10}]}}]}`, []string{`presets[0] ("p")`, "widht"}},
		{"bad enum", `{"presets": [{"name": "p", "spec": {"variants": [{"name": "a", "width": 10, "format": "FORMAT_BMP"}]}}]}`, []string{`presets[0] ("p")`, "FORMAT_BMP"}},
		{"invalid spec", `{"presets": [` + good + `, {"name": "q", "spec": {"variants": [{"name": "a", "width": 99999, "format": "FORMAT_PNG"}]}}]}`, []string{"presets[q].spec.variants[0].width"}},
		{"bad preset name", `{"presets": [{"name": "Bad", "spec": {}}]}`, []string{"presets[0].name"}},
		{"duplicate preset", `{"presets": [` + good + `, ` + good + `]}`, []string{"presets[1].name", "duplicate"}},
		{"unknown watermark asset", `{"presets": [{"name": "p", "spec": {"variants": [{"name": "a", "width": 10, "format": "FORMAT_PNG", "watermark": {"asset": "nope"}}]}}]}`,
			[]string{"presets[p].spec.variants[0].watermark.asset", "nope"}},
		{"watermark file missing", `{"watermarks": {"logo": "missing.png"}}`, []string{`watermarks["logo"]`}},
		{"watermark not an image", `{"watermarks": {"logo": "text.png"}}`, []string{`watermarks["logo"]`, "text.png", "not a supported image"}},
		{"watermark bad name", `{"watermarks": {"Logo!": "logo.png"}}`, []string{`watermarks["Logo!"]`}},
		{"watermark empty path", `{"watermarks": {"logo": ""}}`, []string{`watermarks["logo"]`, "empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := spec.ParsePresets([]byte(c.json), read)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if p, err := spec.ParsePresets([]byte(`{"presets": [`+good+`]}`), read); err != nil || len(p.List()) != 4 {
		t.Errorf("good file: %v", err)
	}
	// LoadPresets resolves watermark paths against the file's directory and
	// names the file in its errors.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mark.png"), logo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "presets.json")
	if err := os.WriteFile(cfg, []byte(`{"watermarks": {"mark": "mark.png"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := spec.LoadPresets(cfg); err != nil || len(p.Watermarks()) != 1 {
		t.Errorf("LoadPresets: %v", err)
	}
	if _, err := spec.LoadPresets(filepath.Join(dir, "absent.json")); err == nil {
		t.Error("a missing file loaded")
	}
	if err := os.WriteFile(cfg, []byte(`{"presets": [{"name": "x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := spec.LoadPresets(cfg); err == nil || !strings.Contains(err.Error(), cfg) || !strings.Contains(err.Error(), "presets[x].spec.variants") {
		t.Errorf("error %v: want the file name and the field", err)
	}
}

func asErr(err error) *apperr.Error {
	var e *apperr.Error
	errors.As(err, &e)
	return e
}

func FuzzValidate(f *testing.F) {
	i32 := func(i int32) *int32 { return &i }
	f32 := func(x float32) *float32 { return &x }
	seeds := []*pb.ProcessingSpec{
		variant(nil),
		{Variants: []*pb.VariantSpec{{
			Name: "a", Width: 300, Height: 200, Dpr: 2, Fit: pb.Fit_FIT_COVER, Gravity: pb.Gravity_GRAVITY_FOCAL_POINT,
			FocalPoint: &pb.FocalPoint{X: 0.25, Y: 0.75}, Crop: &pb.CropRect{X: 1, Y: 2, Width: 30, Height: 40},
			Format: pb.Format_FORMAT_AUTO, Quality: 70, MaxBytes: 9000, Background: "#10203040",
			Webp: &pb.WebpOptions{Effort: i32(3)}, Avif: &pb.AvifOptions{Effort: i32(2)}, KeepCopyright: true, KeepIcc: true,
			Effects:   &pb.Effects{BlurSigma: 1.5, SharpenSigma: 0.5},
			Watermark: &pb.Watermark{Asset: "logo", Position: pb.Gravity_GRAVITY_NORTH, Margin: 8, Opacity: f32(0.5), RelativeWidth: 0.25},
		}, {
			Name: "b", Width: 333, Format: pb.Format_FORMAT_PNG, Png: &pb.PngOptions{Compression: i32(0), Palette: true, Colours: 16}, Quality: 60,
		}, {
			Name: "c", Height: 50, Format: pb.Format_FORMAT_GIF, Still: true,
		}}, Animation: &pb.AnimationOptions{MaxFrames: 10}},
	}
	for _, s := range seeds {
		b, _ := proto.Marshal(s)
		f.Add(b)
	}
	f.Add([]byte{})
	presets := withLogo(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &pb.ProcessingSpec{}
		if proto.Unmarshal(data, s) != nil {
			return
		}
		if err := presets.Validate("spec", s); err != nil {
			e, ok := apperr.As(err)
			if !ok || e.Field == "" || !strings.HasPrefix(e.Field, "spec") {
				t.Fatalf("Validate returned %v, not an apperr naming a spec field", err)
			}
			return
		}
		// Whatever validates converts into options imaging accepts.
		for _, v := range presets.Variants(s) {
			if v.Width < 0 || v.Height < 0 || v.Width+v.Height == 0 || v.Width > spec.MaxDimension || v.Height > spec.MaxDimension ||
				v.Quality < 0 || v.Quality > 100 || v.Format == "" {
				t.Fatalf("validated spec converts to %+v", v)
			}
			if _, err := imaging.Process(context.Background(), nil, []imaging.Variant{v}, imaging.Limits{}); errors.Is(err, imaging.ErrInvalidVariant) {
				t.Fatalf("imaging refuses a validated variant: %v", err)
			}
		}
	})
}

// FuzzParsePresets: a presets file never crashes the parser; it is either
// refused with an error or yields presets that all validate.
func FuzzParsePresets(f *testing.F) {
	f.Add([]byte(`{"watermarks": {"logo": "logo.png"}, "presets": [{"name": "p", "spec": {"variants": [{"name": "a", "width": 10, "format": "FORMAT_PNG", "watermark": {"asset": "logo"}}]}}]}`))
	f.Add([]byte(`{"presets": [{"name": "default", "description": "x", "spec": {"variants": [{"name": "a", "width": 10, "format": "FORMAT_AUTO", "maxBytes": "5000"}]}}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"watermarks": {"logo": "other.png"}}`))
	logo, err := os.ReadFile(imagetest.TestdataPath(f, "presets/logo.png"))
	if err != nil {
		f.Fatal(err)
	}
	read := func(path string) ([]byte, error) {
		if path == "logo.png" {
			return logo, nil
		}
		return []byte(path), nil // not an image
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := spec.ParsePresets(data, read)
		if err != nil {
			if p != nil {
				t.Fatal("presets returned with an error")
			}
			return
		}
		for _, pr := range p.List() {
			if err := p.Validate("spec", pr.GetSpec()); err != nil {
				t.Fatalf("preset %q does not validate: %v", pr.GetName(), err)
			}
		}
		if _, _, err := p.Resolve("", "", nil); err != nil {
			t.Fatalf("no default preset: %v", err)
		}
	})
}
