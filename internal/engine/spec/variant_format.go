package spec

import (
	"slices"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
)

// Checks of a variant's output format, its per-format options and the
// settings that depend on the format (see variantChecks).

func checkFormat(c *variantCheck) error {
	format, ok := outputFormats[c.v.GetFormat()]
	if !ok {
		if c.v.GetFormat() == pb.Format_FORMAT_UNSPECIFIED {
			return c.bad("format", "required: %s", outputFormatList)
		}
		return c.bad("format", "%s is not an output format: use %s", c.v.GetFormat(), outputFormatList)
	}
	c.format = format
	return nil
}

// formatOptions are the per-format options messages of a VariantSpec: each
// one set must be for the variant's format, then its fields are checked.
var formatOptions = []struct {
	field   string
	set     func(*pb.VariantSpec) bool
	formats []imaging.Format
	check   func(*variantCheck) error
}{
	{"jpeg", func(v *pb.VariantSpec) bool { return v.GetJpeg() != nil },
		[]imaging.Format{imaging.FormatJPEG}, checkJPEGOptions},
	{"png", func(v *pb.VariantSpec) bool { return v.GetPng() != nil },
		[]imaging.Format{imaging.FormatPNG}, checkPNGOptions},
	{"webp", func(v *pb.VariantSpec) bool { return v.GetWebp() != nil },
		[]imaging.Format{imaging.FormatWebP, imaging.FormatAuto}, checkWebPOptions},
	{"avif", func(v *pb.VariantSpec) bool { return v.GetAvif() != nil },
		[]imaging.Format{imaging.FormatAVIF, imaging.FormatAuto}, checkAVIFOptions},
}

func checkFormatOptions(c *variantCheck) error {
	for _, o := range formatOptions {
		if !o.set(c.v) {
			continue
		}
		if !slices.Contains(o.formats, c.format) {
			return c.bad(o.field, "does not apply to %s", c.v.GetFormat())
		}
		if err := o.check(c); err != nil {
			return err
		}
	}
	return nil
}

// effort checks an encoder's effort option (nil: the encoder's default).
func (c *variantCheck) effort(field string, effort *int32, lo, hi int32) error {
	if effort != nil && (*effort < lo || *effort > hi) {
		return c.bad(field, "must be %d..%d, got %d", lo, hi, *effort)
	}
	return nil
}

// The checks of the options messages' fields (see formatOptions: the
// message is set and for the variant's format).

func checkJPEGOptions(c *variantCheck) error {
	o := c.v.GetJpeg()
	if _, ok := subsamplings[o.GetChromaSubsampling()]; !ok {
		return c.bad("jpeg.chroma_subsampling", "unknown value %d", o.GetChromaSubsampling())
	}
	return nil
}

func checkPNGOptions(c *variantCheck) error {
	o := c.v.GetPng()
	if o.Compression != nil && (o.GetCompression() < 0 || o.GetCompression() > 9) {
		return c.bad("png.compression", "must be 0..9, got %d", o.GetCompression())
	}
	switch n := o.GetColours(); {
	case n == 0:
	case !o.GetPalette():
		return c.bad("png.colours", "needs palette")
	case n != 2 && n != 4 && n != 16 && n != 256:
		return c.bad("png.colours", "must be 2, 4, 16 or 256 (or 0 for 256), got %d", n)
	}
	return nil
}

func checkWebPOptions(c *variantCheck) error {
	o := c.v.GetWebp()
	if err := c.effort("webp.effort", o.Effort, 0, 6); err != nil {
		return err
	}
	if o.GetLossless() && c.format == imaging.FormatAuto {
		return c.bad("webp.lossless", "FORMAT_AUTO compares lossy encodings: pick FORMAT_WEBP for lossless")
	}
	if o.GetLossless() && o.Effort != nil && o.GetEffort() > MaxLosslessWebPEffort {
		return c.bad("webp.effort", "must be 0..%d for lossless WebP (a cost limit), got %d", MaxLosslessWebPEffort, o.GetEffort())
	}
	return nil
}

func checkAVIFOptions(c *variantCheck) error {
	return c.effort("avif.effort", c.v.GetAvif().Effort, 1, 9)
}

// lossless reports whether the variant is lossless WebP.
func (c *variantCheck) lossless() bool {
	return c.format == imaging.FormatWebP && c.v.GetWebp().GetLossless()
}

func checkQuality(c *variantCheck) error {
	q := c.v.GetQuality()
	switch {
	case q == 0:
		return nil
	case q < 0 || q > 100:
		return c.bad("quality", "must be 0..100, got %d", q)
	case c.lossless():
		return c.bad("quality", "does not apply to lossless WebP")
	case c.format == imaging.FormatGIF || c.format == imaging.FormatPNG && !c.v.GetPng().GetPalette():
		return c.bad("quality", "does not apply to %s (lossless); a palette PNG uses it for quantisation", c.v.GetFormat())
	}
	return nil
}

func checkMaxBytes(c *variantCheck) error {
	mb := c.v.GetMaxBytes()
	switch {
	case mb == 0:
		return nil
	case mb < MinMaxBytes || mb > MaxBytesCeiling:
		return c.bad("max_bytes", "must be %d..%d (or 0 for no limit), got %d", MinMaxBytes, MaxBytesCeiling, mb)
	case c.lossless() || c.format == imaging.FormatPNG || c.format == imaging.FormatGIF:
		return c.bad("max_bytes", "needs a lossy format (JPEG, lossy WebP, AVIF or AUTO) whose quality can be lowered")
	}
	return nil
}

func checkBackground(c *variantCheck) error {
	b := c.v.GetBackground()
	if b == "" {
		return nil
	}
	rgba, err := ParseColor(b)
	if err != nil {
		return c.bad("background", "%v", err)
	}
	if rgba[3] != 255 && c.format == imaging.FormatJPEG {
		return c.bad("background", "FORMAT_JPEG has no alpha: the background must be opaque")
	}
	return nil
}

func checkMetadata(c *variantCheck) error {
	v, format := c.v, c.format
	strip := v.StripMetadata == nil || v.GetStripMetadata()
	switch {
	case format == imaging.FormatGIF && !strip:
		return c.bad("strip_metadata", "FORMAT_GIF holds no metadata")
	case v.GetKeepCopyright() && !strip:
		return c.bad("keep_copyright", "strip_metadata is false: everything but GPS is kept anyway")
	case v.GetKeepCopyright() && format == imaging.FormatGIF:
		return c.bad("keep_copyright", "FORMAT_GIF holds no metadata")
	case v.GetKeepCopyright() && format == imaging.FormatPNG:
		// libvips 8.14 writes PNG EXIF only from the raw EXIF block, which is
		// never kept (it holds GPS): the tags would be silently lost.
		return c.bad("keep_copyright", "FORMAT_PNG output cannot carry the EXIF copyright tags; use JPEG, WebP, AVIF or AUTO")
	case v.GetKeepIcc() && !strip:
		return c.bad("keep_icc", "strip_metadata is false: the ICC profile is kept anyway")
	case v.GetKeepIcc() && format == imaging.FormatGIF:
		return c.bad("keep_icc", "FORMAT_GIF holds no ICC profile")
	}
	return nil
}

func checkStill(c *variantCheck) error {
	if c.v.GetStill() && !c.format.Animates() {
		return c.bad("still", "%s cannot animate: it always gets the first frame", c.v.GetFormat())
	}
	return nil
}
