package imaging

import (
	"fmt"

	"github.com/imagepipe/imagepipe/internal/sniff"
)

// Fit says how an image is fitted into a Variant's Width x Height box. The
// zero value is not a valid Fit.
type Fit int

const (
	// FitContain scales the image to fit inside the box, aspect kept, then
	// pads it to exactly Width x Height with Background, centred (sharp's
	// "contain").
	FitContain Fit = iota + 1
	// FitCover scales the image to fill the box, aspect kept, and crops the
	// overflow around the centre: the output is exactly Width x Height.
	FitCover
	// FitFill stretches the image to exactly Width x Height, ignoring aspect.
	FitFill
	// FitInside scales the image to fit within the box, aspect kept, no
	// padding: the output may be smaller than the box in one dimension.
	FitInside
	// FitOutside scales the image to cover the box, aspect kept, no crop:
	// the output may be larger than the box in one dimension.
	FitOutside
)

func (f Fit) String() string {
	switch f {
	case FitContain:
		return "contain"
	case FitCover:
		return "cover"
	case FitFill:
		return "fill"
	case FitInside:
		return "inside"
	case FitOutside:
		return "outside"
	default:
		return fmt.Sprintf("Fit(%d)", int(f))
	}
}

func (f Fit) valid() bool { return f >= FitContain && f <= FitOutside }

// Format is an output format.
type Format string

// Output formats. AVIF and GIF output may be added later.
const (
	FormatJPEG Format = "jpeg"
	FormatPNG  Format = "png"
	FormatWebP Format = "webp"
)

// ContentType returns the MIME type of the format ("" for an unknown one).
func (f Format) ContentType() string {
	switch f {
	case FormatJPEG:
		return "image/jpeg"
	case FormatPNG:
		return "image/png"
	case FormatWebP:
		return "image/webp"
	default:
		return ""
	}
}

// HasAlpha reports whether the format can store an alpha channel.
func (f Format) HasAlpha() bool { return f == FormatPNG || f == FormatWebP }

// DefaultQuality is used when Variant.Quality is 0 (JPEG and WebP).
const DefaultQuality = 80

// Variant describes one output rendition.
type Variant struct {
	Name string
	// Width and Height are the box. Either may be 0, meaning "derive from the
	// other, keeping aspect" (the fit then does not matter); not both.
	Width, Height int
	Fit           Fit
	Format        Format
	// Quality is 1..100 for lossy formats; 0 means DefaultQuality. PNG
	// ignores it.
	Quality int
	// StripMetadata removes EXIF (including GPS), XMP, IPTC and the ICC
	// profile. Pixels are always converted to sRGB first, so colours are
	// preserved. When false, EXIF/XMP/IPTC/ICC are kept (EXIF orientation is
	// reset, since the pixels are already upright).
	StripMetadata bool
	// AllowUpscale permits enlarging. Without it no dimension is ever scaled
	// up; the output may then be smaller than the box (sharp's
	// withoutEnlargement): contain does not pad beyond the unscaled image,
	// cover crops to at most the unscaled image, fill caps each axis at 1.
	AllowUpscale bool
	// Background is RGBA, used for FitContain padding and to flatten alpha
	// when the format has none (JPEG). The zero value means opaque white; for
	// transparent padding use BackgroundTransparent (any colour with A=0).
	Background [4]uint8
}

// BackgroundTransparent pads with fully transparent pixels (PNG, WebP). JPEG
// uses its RGB part (white).
var BackgroundTransparent = [4]uint8{255, 255, 255, 0}

func (v Variant) background() [4]uint8 {
	if v.Background == ([4]uint8{}) {
		return [4]uint8{255, 255, 255, 255}
	}
	return v.Background
}

func (v Variant) quality() int {
	if v.Quality == 0 {
		return DefaultQuality
	}
	return v.Quality
}

// maxBox bounds a Variant's box sides; outputs are further bounded by
// Limits (only reachable with AllowUpscale, since the source is).
const maxBox = 1 << 16

func (v Variant) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidVariant, v.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case v.Width < 0 || v.Height < 0:
		return bad("negative size %dx%d", v.Width, v.Height)
	case v.Width == 0 && v.Height == 0:
		return bad("width and height are both 0")
	case v.Width > maxBox || v.Height > maxBox:
		return bad("box %dx%d is absurdly large", v.Width, v.Height)
	case !v.Fit.valid():
		return bad("invalid fit %v", v.Fit)
	case v.Format.ContentType() == "":
		return bad("unsupported output format %q", v.Format)
	case v.Quality < 0 || v.Quality > 100:
		return bad("quality %d outside 0..100", v.Quality)
	}
	return nil
}

// Limits bound the size of images accepted for decoding. Zero fields take
// the defaults.
type Limits struct {
	MaxPixels           int64 // default DefaultMaxPixels
	MaxWidth, MaxHeight int   // default DefaultMaxDimension
}

// Default limits.
const (
	DefaultMaxPixels    int64 = 50_000_000
	DefaultMaxDimension       = 30000
)

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxWidth <= 0 {
		l.MaxWidth = DefaultMaxDimension
	}
	if l.MaxHeight <= 0 {
		l.MaxHeight = DefaultMaxDimension
	}
	return l
}

// SourceInfo describes the input image, from its header.
type SourceInfo struct {
	Format sniff.Format
	// Width and Height are as displayed, i.e. after the EXIF orientation
	// (swapped for orientations 5-8). For multi-frame formats (GIF, TIFF,
	// HEIF) they are those of the first frame, the only one processed.
	Width, Height int
	Orientation   int // EXIF orientation 1..8 (1 when absent)
	HasAlpha      bool
}

// Output is one encoded variant.
type Output struct {
	Name          string
	Format        Format
	ContentType   string
	Width, Height int
	Data          []byte
}

// Result is the output of Process: the source description and one Output per
// requested Variant, in the same order.
type Result struct {
	Source   SourceInfo
	Variants []Output
}
