package imaging

import (
	"fmt"
	"math"
	"time"

	"github.com/imagepipe/imagepipe/internal/engine/sniff"
)

// Fit says how an image is fitted into a Variant's Width x Height box. The
// zero value is not a valid Fit.
type Fit int

const (
	// FitContain scales the image to fit inside the box, aspect kept, then
	// pads it to exactly Width x Height with Background, placed by Gravity
	// (sharp's "contain").
	FitContain Fit = iota + 1
	// FitCover scales the image to fill the box, aspect kept, and crops the
	// overflow, keeping the part Gravity names: the output is exactly Width x
	// Height.
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

// Gravity says which part of the image a FitCover crop keeps, where a
// FitContain image sits on its padding, and where a watermark goes.
type Gravity int

// Gravities. The zero value, GravityDefault, means GravityCentre for crops
// and padding and GravitySouthEast for a watermark.
const (
	GravityDefault Gravity = iota
	GravityCentre
	GravityNorth
	GravityNorthEast
	GravityEast
	GravitySouthEast
	GravitySouth
	GravitySouthWest
	GravityWest
	GravityNorthWest
	// GravitySmartAttention (FitCover only) keeps what libvips' attention
	// model finds most interesting (skin tones, saturation, edges).
	GravitySmartAttention
	// GravitySmartEntropy (FitCover only) keeps the region with the most
	// entropy.
	GravitySmartEntropy
	// GravityFocalPoint (FitCover only) keeps Variant.Focal as close to the
	// centre of the output as the crop allows.
	GravityFocalPoint
)

func (g Gravity) valid() bool { return g >= GravityDefault && g <= GravityFocalPoint }

// compass reports whether g is the default, the centre or a compass point:
// a gravity that places rather than analyses.
func (g Gravity) compass() bool { return g >= GravityDefault && g <= GravityNorthWest }

func (g Gravity) smart() bool { return g == GravitySmartAttention || g == GravitySmartEntropy }

// side says where g puts things along one axis: -1 at the start (left or
// top), +1 at the end, 0 centred.
func (g Gravity) side(horizontal bool) int {
	var h, v int
	switch g {
	case GravityNorth:
		v = -1
	case GravitySouth:
		v = 1
	case GravityWest:
		h = -1
	case GravityEast:
		h = 1
	case GravityNorthWest:
		h, v = -1, -1
	case GravityNorthEast:
		h, v = 1, -1
	case GravitySouthWest:
		h, v = -1, 1
	case GravitySouthEast:
		h, v = 1, 1
	}
	if horizontal {
		return h
	}
	return v
}

// align returns where a span of length inner goes in a span of length outer
// along x (horizontal) or y, margin away from the edge it is placed against
// (as far as there is room).
func (g Gravity) align(outer, inner, margin int, horizontal bool) int {
	free := outer - inner
	if free <= 0 {
		return 0
	}
	switch g.side(horizontal) {
	case -1:
		return min(margin, free)
	case 1:
		return max(free-margin, 0)
	default:
		return free / 2
	}
}

// Format is an output format.
type Format string

// Output formats. FormatAuto is only a request: Output.Format is always the
// concrete format written.
const (
	FormatJPEG Format = "jpeg"
	FormatPNG  Format = "png"
	FormatWebP Format = "webp"
	FormatAVIF Format = "avif"
	FormatGIF  Format = "gif"
	// FormatAuto picks by content: WebP for animations and images with
	// transparency, otherwise the smaller of AVIF and WebP (WebP alone above
	// Limits.MaxAVIFPixels).
	FormatAuto Format = "auto"
)

// ContentType returns the MIME type of the format ("" for an unknown one and
// for FormatAuto).
func (f Format) ContentType() string {
	switch f {
	case FormatJPEG:
		return "image/jpeg"
	case FormatPNG:
		return "image/png"
	case FormatWebP:
		return "image/webp"
	case FormatAVIF:
		return "image/avif"
	case FormatGIF:
		return "image/gif"
	default:
		return ""
	}
}

func (f Format) valid() bool { return f == FormatAuto || f.ContentType() != "" }

// HasAlpha reports whether the format can store transparency (GIF: 1-bit).
func (f Format) HasAlpha() bool { return f != FormatJPEG }

// Animates reports whether the format can store an animation. (AVIF can in
// principle, but libheif 1.15 cannot write image sequences.)
func (f Format) Animates() bool { return f == FormatGIF || f == FormatWebP || f == FormatAuto }

// lossy reports whether the format has a quality setting that max_bytes can
// lower.
func (f Format) lossy() bool {
	return f == FormatJPEG || f == FormatWebP || f == FormatAVIF || f == FormatAuto
}

// Default qualities, used when Variant.Quality is 0.
const (
	DefaultQuality     = 80 // JPEG and WebP
	DefaultAVIFQuality = 50 // AVIF: looks about like WebP/JPEG at 80
	// MinQuality is the lowest quality MaxBytes lowers to.
	MinQuality = 10
)

// Subsampling is the JPEG chroma subsampling.
type Subsampling int

const (
	// SubsamplingAuto lets libvips decide: 4:2:0 below quality 90, 4:4:4 above.
	SubsamplingAuto Subsampling = iota
	Subsampling420
	Subsampling444
)

// JPEGOptions tune JPEG output.
type JPEGOptions struct {
	Progressive bool
	Subsampling Subsampling
}

// PNGOptions tune PNG output.
type PNGOptions struct {
	// Compression is the zlib level 0..9; nil means 6.
	Compression *int
	// Palette quantises to at most Colours colours (libimagequant), with
	// Variant.Quality as the quantisation quality (0 = 100).
	Palette bool
	// Colours is 2, 4, 16 or 256 (bit depth 1, 2, 4, 8); 0 means 256.
	Colours int
}

// WebPOptions tune WebP output (and the WebP candidate of FormatAuto).
type WebPOptions struct {
	Lossless bool
	// Effort is 0..6; nil means 4.
	Effort *int
}

// AVIFOptions tune AVIF output (and the AVIF candidate of FormatAuto).
type AVIFOptions struct {
	// Effort is 1..9; nil means 4.
	Effort *int
}

// Point is a position as fractions of an image's width and height (0..1).
type Point struct{ X, Y float64 }

// Rect is a rectangle in pixels.
type Rect struct{ X, Y, Width, Height int }

// Watermark composites a watermark image over a variant.
type Watermark struct {
	Image *WatermarkImage
	// Position is GravityCentre or a compass point; GravityDefault means
	// GravitySouthEast.
	Position Gravity
	// Margin from the edges it is placed against, in output pixels.
	Margin int
	// Opacity 0 < Opacity <= 1; 0 means 1.
	Opacity float64
	// RelativeWidth is the watermark's width as a fraction of the variant's
	// (0 < RelativeWidth <= 1); 0 means the image's own width. Either way it
	// is shrunk to fit inside the variant minus the margins.
	RelativeWidth float64
}

// Variant describes one output rendition.
type Variant struct {
	Name string
	// Width and Height are the box in output pixels (any device pixel ratio
	// already applied). Either may be 0, meaning "derive from the other,
	// keeping aspect" (the fit then does not matter); not both.
	Width, Height int
	Fit           Fit
	// Gravity: see the Gravity constants. Smart gravities and
	// GravityFocalPoint only matter for FitCover.
	Gravity Gravity
	// Focal is the point GravityFocalPoint keeps in view, in fractions of the
	// (cropped) source.
	Focal Point
	// Crop, when set, is cut out of the upright source (in source pixels)
	// before anything else. A Crop that does not fit inside the source fails
	// with CodeInvalidCrop.
	Crop *Rect

	Format Format
	// Quality is 1..100 for lossy formats and the quantisation quality of a
	// palette PNG; 0 means the default (DefaultQuality, DefaultAVIFQuality,
	// 100 for palette PNG). For FormatAuto it is on WebP's scale and AVIF is
	// encoded at 5/8 of it.
	Quality int
	JPEG    JPEGOptions
	PNG     PNGOptions
	WebP    WebPOptions
	AVIF    AVIFOptions
	// MaxBytes, when > 0, lowers the quality of a lossy format (down to
	// MinQuality) until the encoded variant is at most that long; when even
	// MinQuality is too large, Process fails with CodeMaxBytesUnreachable.
	MaxBytes int

	// StripMetadata removes EXIF, XMP, IPTC and the ICC profile, except
	// what KeepCopyright and KeepICC keep. When false, everything is kept
	// except GPS (EXIF GPS IFD; an XMP packet that mentions GPS is dropped
	// whole). GPS never survives. EXIF orientation is reset: the pixels are
	// upright. With libvips 8.14, PNG output carries XMP and the ICC
	// profile but no EXIF: it writes PNG EXIF only from the raw EXIF block,
	// which is never kept because it holds GPS; from 8.15 (the bundled
	// libvips) PNG keeps EXIF like the other formats.
	StripMetadata bool
	// KeepCopyright keeps the EXIF Copyright and Artist tags (JPEG, WebP,
	// AVIF; see StripMetadata about PNG).
	KeepCopyright bool
	// KeepICC keeps a colour profile: a source with an RGB ICC profile keeps
	// its colour space and profile (no conversion to sRGB); any other source
	// is converted to sRGB and tagged with libvips' sRGB profile. Without
	// it (and with StripMetadata), pixels are sRGB and untagged.
	KeepICC bool

	// AllowUpscale permits enlarging. Without it no dimension is ever scaled
	// up; the output may then be smaller than the box: contain does not pad
	// beyond the unscaled image, cover crops the largest region of the
	// unscaled image that has the box's aspect ratio (a 600x600 square of a
	// 600x400 photo is 400x400), fill caps each axis at 1.
	AllowUpscale bool
	// Background is RGBA, used for FitContain padding and to flatten alpha
	// when the format has none (JPEG). The zero value means opaque white; for
	// transparent padding use BackgroundTransparent (any colour with A=0).
	Background [4]uint8

	// Blur is a Gaussian blur sigma in output pixels (0 = none).
	Blur float64
	// Sharpen is an unsharp-mask sigma in output pixels (0 = none).
	Sharpen float64
	// Watermark, when set, is composited over the variant.
	Watermark *Watermark

	// Still renders only the first frame of an animated source. Formats
	// that cannot animate (JPEG, PNG, AVIF) always do.
	Still bool
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

// quality returns the encoder quality of format f (a concrete format) for v.
func (v Variant) quality(f Format) int {
	q := v.Quality
	switch {
	case f == FormatAVIF && v.Format == FormatAuto && q != 0:
		return max(1, int(math.Round(float64(q)*5/8)))
	case f == FormatAVIF && q == 0:
		return DefaultAVIFQuality
	case f == FormatPNG && q == 0:
		return 100
	case q == 0:
		return DefaultQuality
	}
	return q
}

// animated reports whether v keeps the animation of an animated source.
func (v Variant) animated() bool { return !v.Still && v.Format.Animates() }

// metaWanted reports whether v keeps any metadata, so the decoded base must
// carry it.
func (v Variant) metaWanted() bool { return !v.StripMetadata || v.KeepCopyright || v.KeepICC }

// maxBox bounds a Variant's box sides; outputs are further bounded by
// Limits (only reachable with AllowUpscale, since the source is).
const maxBox = 1 << 16

func (v Variant) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidVariant, v.Name, fmt.Sprintf(format, args...))
	}
	inRange := func(p *int, lo, hi int) bool { return p == nil || (*p >= lo && *p <= hi) }
	switch {
	case v.Width < 0 || v.Height < 0:
		return bad("negative size %dx%d", v.Width, v.Height)
	case v.Width == 0 && v.Height == 0:
		return bad("width and height are both 0")
	case v.Width > maxBox || v.Height > maxBox:
		return bad("box %dx%d is absurdly large", v.Width, v.Height)
	case !v.Fit.valid():
		return bad("invalid fit %v", v.Fit)
	case !v.Gravity.valid():
		return bad("invalid gravity %d", v.Gravity)
	case v.Gravity == GravityFocalPoint && (!unit(v.Focal.X) || !unit(v.Focal.Y)):
		return bad("focal point %+v outside 0..1", v.Focal)
	case v.Crop != nil && (v.Crop.X < 0 || v.Crop.Y < 0 || v.Crop.Width < 1 || v.Crop.Height < 1):
		return bad("crop %+v is empty or negative", *v.Crop)
	case !v.Format.valid():
		return bad("unsupported output format %q", v.Format)
	case v.Quality < 0 || v.Quality > 100:
		return bad("quality %d outside 0..100", v.Quality)
	case !inRange(v.PNG.Compression, 0, 9):
		return bad("PNG compression %d outside 0..9", *v.PNG.Compression)
	case v.PNG.Colours != 0 && v.PNG.Colours != 2 && v.PNG.Colours != 4 && v.PNG.Colours != 16 && v.PNG.Colours != 256:
		return bad("PNG colours %d is not 2, 4, 16 or 256", v.PNG.Colours)
	case !inRange(v.WebP.Effort, 0, 6):
		return bad("WebP effort %d outside 0..6", *v.WebP.Effort)
	case !inRange(v.AVIF.Effort, 1, 9):
		return bad("AVIF effort %d outside 1..9", *v.AVIF.Effort)
	case v.MaxBytes < 0 || (v.MaxBytes > 0 && (!v.Format.lossy() || v.WebP.Lossless && v.Format == FormatWebP)):
		return bad("max bytes %d needs a lossy format", v.MaxBytes)
	case v.KeepCopyright && (v.Format == FormatPNG || v.Format == FormatGIF):
		return bad("%s output cannot carry the EXIF copyright tags", v.Format)
	case v.Blur < 0 || v.Blur > 1000 || math.IsNaN(v.Blur):
		return bad("blur sigma %v outside 0..1000", v.Blur)
	case v.Sharpen < 0 || v.Sharpen > 1000 || math.IsNaN(v.Sharpen):
		return bad("sharpen sigma %v outside 0..1000", v.Sharpen)
	}
	if w := v.Watermark; w != nil {
		switch {
		case w.Image == nil:
			return bad("watermark without an image")
		case !w.Position.compass():
			return bad("watermark position %d is not a compass point", w.Position)
		case w.Margin < 0 || w.Margin > maxBox:
			return bad("watermark margin %d", w.Margin)
		case !(w.Opacity >= 0 && w.Opacity <= 1):
			return bad("watermark opacity %v outside 0..1", w.Opacity)
		case !(w.RelativeWidth >= 0 && w.RelativeWidth <= 1):
			return bad("watermark relative width %v outside 0..1", w.RelativeWidth)
		}
	}
	return nil
}

func unit(x float64) bool { return x >= 0 && x <= 1 }

// Limits bound the images accepted for decoding. Zero fields take the
// defaults. All of them are checked from the header, before any pixel is
// decoded.
type Limits struct {
	MaxPixels           int64 // one frame; default DefaultMaxPixels
	MaxWidth, MaxHeight int   // default DefaultMaxDimension
	// MaxFrames bounds the frames of an animated GIF or WebP; default
	// DefaultMaxFrames. More frames fail with CodeTooManyFrames.
	MaxFrames int
	// MaxTotalPixels bounds the pixels of all frames of an animation
	// together, which is what decoding them costs; default
	// DefaultMaxTotalPixels. (Memory is bounded by MaxPixels: the decoded
	// frames of an animation, after shrink-on-load, may not hold more
	// pixels than one still image may have.)
	MaxTotalPixels int64
	// MaxAVIFPixels bounds AVIF output, whose encoder (libaom) is slow and
	// hungry: about 12 s and 220 MB for 3840x2160 at effort 4 here, growing
	// linearly. A larger FormatAVIF variant fails with CodeTooManyPixels; a
	// larger FormatAuto variant is written as WebP without trying AVIF.
	// Default DefaultMaxAVIFPixels.
	MaxAVIFPixels int64
	// MaxUpscale bounds how many times a variant with AllowUpscale may
	// enlarge its source (the image, or its crop) on either side: the
	// spec bounds the output size, but only the source's size says how
	// much a variant enlarges it (a 1x1 PNG to 4096x4096 is all
	// interpolation). More fails with CodeUpscaleTooLarge. Default
	// DefaultMaxUpscale.
	MaxUpscale int
}

// Default limits.
const (
	DefaultMaxPixels      int64 = 50_000_000
	DefaultMaxDimension         = 30000
	DefaultMaxFrames            = 300
	DefaultMaxTotalPixels int64 = 200_000_000
	DefaultMaxAVIFPixels  int64 = 3840 * 2160
	DefaultMaxUpscale           = 4
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
	if l.MaxFrames <= 0 {
		l.MaxFrames = DefaultMaxFrames
	}
	if l.MaxTotalPixels <= 0 {
		l.MaxTotalPixels = DefaultMaxTotalPixels
	}
	if l.MaxAVIFPixels <= 0 {
		l.MaxAVIFPixels = DefaultMaxAVIFPixels
	}
	if l.MaxUpscale <= 0 {
		l.MaxUpscale = DefaultMaxUpscale
	}
	return l
}

// SourceInfo describes the input image, from its header.
type SourceInfo struct {
	Format sniff.Format
	// Width and Height are as displayed, i.e. after the EXIF orientation
	// (swapped for orientations 5-8). For multi-frame formats they are those
	// of one frame.
	Width, Height int
	Orientation   int // EXIF orientation 1..8 (1 when absent)
	HasAlpha      bool
	// Frames is the number of animation frames of a GIF or WebP; 1 for
	// every other image (a multi-page TIFF or HEIF is processed as its first
	// page).
	Frames int

	cmyk bool // stored as CMYK (decoded through its profile, see decode)
}

// Animated reports whether the source is an animation.
func (s SourceInfo) Animated() bool { return s.Frames > 1 }

// Output is one encoded variant.
type Output struct {
	Name          string
	Format        Format // concrete: never FormatAuto
	ContentType   string
	Width, Height int // one frame
	Frames        int // > 1 for an animation
	// Quality the encoder used (below Variant.Quality when MaxBytes lowered
	// it); 0 for lossless output (PNG without palette, GIF, lossless WebP).
	Quality int
	Data    []byte
	// Elapsed is the time spent deriving and encoding this variant, from
	// Start.
	Elapsed time.Duration
	// Start is when the variant's rendering began.
	Start time.Time
	// Encode is the part of Elapsed spent in the encoder. libvips
	// evaluates lazily: the steps before it only build the pipeline, so
	// Encode includes computing the variant's pixels and Elapsed - Encode
	// is the rest of the rendering (loading the decoded image, shrinking
	// it, the smart crop's search, evaluating watermarks).
	Encode time.Duration
}

// Extras are computed once from the decoded image as displayed (upright,
// sRGB, first frame, transparency over white).
type Extras struct {
	// BlurHash with 4x3 components (https://blurha.sh).
	BlurHash string
	// DominantColor is "#rrggbb": the centre of the most populated cell of a
	// 16x16x16 colour histogram.
	DominantColor string
	// PHash is a 64-bit DCT perceptual hash (same algorithm as
	// imagetest.PHash); compare with bits.OnesCount64(a^b).
	PHash uint64
}

// PHashHex formats PHash as 16 hex digits.
func (e Extras) PHashHex() string { return fmt.Sprintf("%016x", e.PHash) }

// Result is the output of Process: the source description, one Output per
// requested Variant (in the same order) and the extras.
type Result struct {
	Source   SourceInfo
	Variants []Output
	Extras   Extras
	// Decode is the time spent probing and decoding the source, from
	// Start.
	Decode time.Duration
	// Start is when probing the source began.
	Start time.Time
}
