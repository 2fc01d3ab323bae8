package imaging

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/sniff"
)

// decodeHook, when set (tests only, see export_test.go), is called after
// every decode with the size of one frame of the decoded base image.
var decodeHook func(w, h int)

// decodeOptions say what the variants need from the decoded image.
type decodeOptions struct {
	scale    float64 // of the upright source (at most 1): the largest any variant needs
	keepMeta bool    // some variant keeps metadata: carry it through
	keepICC  bool    // some variant keeps the ICC profile
	frames   int     // frames to decode: 1, or all of an animation
}

func baseSize(info SourceInfo, scale float64) (int, int) {
	return max(1, int(math.Ceil(float64(info.Width)*scale))), max(1, int(math.Ceil(float64(info.Height)*scale)))
}

// decode loads src once with shrink-on-load to (at least) opt.scale times
// the upright source size, applies the EXIF orientation, converts to 8-bit
// sRGB (or keeps an RGB source's own colour space when a variant keeps its
// profile) and evaluates the pipeline into memory, so the variants can all
// be derived from it. For an animation it decodes all frames. libvips'
// errors here are the input's fault: they become ErrCorrupt.
func decode(src *source, info SourceInfo, opt decodeOptions) (*decoded, error) {
	// The pipeline reads src (in place, when in memory) until evaluateBase.
	var pin runtime.Pinner
	defer pin.Unpin()
	thumb, err := load(src, info, opt, &pin)
	if err != nil {
		return nil, err
	}
	defer thumb.Close()

	d := &decoded{frames: 1}
	if opt.frames > 1 {
		if err := d.readAnimation(thumb, opt.frames); err != nil {
			return nil, err
		}
	}
	d.device = opt.keepICC && rgbProfile(thumb)
	if err := toSRGB(thumb, d.device); err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	if d.frames > 1 {
		// One page for the copy below; frames are tracked in d.
		if err := thumb.SetPageHeight(thumb.Height()); err != nil {
			return nil, fmt.Errorf("imaging: page height: %w", cleanCause(err))
		}
	}

	base, err := evaluateBase(thumb, opt.keepMeta)
	if err != nil {
		return nil, err
	}
	d.img = base
	d.pageHeight = base.Height() / d.frames
	d.sx = float64(base.Width()) / float64(info.Width)
	d.sy = float64(d.pageHeight) / float64(info.Height)
	if decodeHook != nil {
		decodeHook(base.Width(), d.pageHeight)
	}
	return d, nil
}

// load opens src with the loader for its format as a lazy pipeline, upright
// and fitted within the base size (see decode), and checks that libvips
// chose the loader the magic bytes named.
//
// vips_thumbnail: picks the JPEG/WebP/HEIF shrink-on-load factor from the
// box, auto-rotates by EXIF orientation (all eight, and removes the tag),
// resizes with premultiplied alpha, and sizes animations by their page
// height. SizeDown: the base is never enlarged.
//
// A JPEG skips it (jpegUpright): the loader with the largest shrink-on-load
// that stays above the box (vips_thumbnail keeps a factor of 2 for its
// resize: 5120 px to 1600 decodes at full size instead of 1/2), then the
// same Lanczos3 resize. 6-8 % less CPU on JPEGs and less memory, for outputs
// within 0.3 dB PSNR of a full-size Lanczos3 reference
// (docs/BENCHMARKS.md); sharp does the same (fastShrinkOnLoad).
func load(src *source, info SourceInfo, opt decodeOptions, pin *runtime.Pinner) (*vips.ImageRef, error) {
	bw, bh := baseSize(info, opt.scale)
	var thumb *vips.ImageRef
	var err error
	switch {
	case info.Format == sniff.HEIF:
		thumb, err = loadHEIF(src, info, bw, bh)
	case info.cmyk:
		thumb, err = loadCMYK(src, info, bw, bh, pin)
	case info.Format == sniff.JPEG:
		thumb, err = jpegUpright(src, info, bw, bh, pin)
	default:
		options := failOnError
		if opt.frames > 1 {
			options += ",n=-1"
		}
		thumb, err = thumbnailSource(src, bw, bh, options, pin)
	}
	if isInternalHEIF(err) || errors.Is(err, errRead) {
		return nil, err
	}
	if err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	if loader := thumb.GetString("vips-loader"); !strings.HasPrefix(loader, expectedLoader(info.Format)) {
		thumb.Close()
		return nil, newError(ErrUnsupportedFormat, "", fmt.Errorf("magic says %s but libvips chose %q", info.Format, loader))
	}
	return thumb, nil
}

// readAnimation takes the frames of an animation from the loaded pipeline
// into d: their number (which must be the header's), delays and loop count.
func (d *decoded) readAnimation(thumb *vips.ImageRef, frames int) error {
	n, ph := thumb.Pages(), thumb.PageHeight()
	if n != frames || ph <= 0 || ph*n != thumb.Height() {
		return newError(ErrCorrupt, "", fmt.Errorf("animation: header said %d frames, decoded %d of height %d in %d rows", frames, n, ph, thumb.Height()))
	}
	d.frames = n
	d.delays, _ = thumb.PageDelay()
	if len(d.delays) != n {
		d.delays = make([]int, n)
		for i := range d.delays {
			d.delays[i] = 100
		}
	}
	d.loop = thumb.GetInt("loop")
	return nil
}

// evaluateBase evaluates the loaded pipeline into the decoded base image.
//
// The thumbnail is a lazy pipeline over a sequential loader: it can be read
// exactly once ("out of order read" otherwise). Evaluate it once into memory
// (libvips' allocation, not the Go heap), random access from then on. This
// is where the source's pixels are actually decoded, so a truncated or
// damaged file fails here.
func evaluateBase(thumb *vips.ImageRef, keepMeta bool) (*vips.ImageRef, error) {
	base, err := copyMemory(thumb)
	if err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	removeField(base, metaSequential)
	if keepMeta {
		base.SetInt("orientation", 1) // the pixels are upright
	} else if err := stripAll(base); err != nil {
		base.Close()
		return nil, fmt.Errorf("imaging: strip decoded image: %w", cleanCause(err))
	}
	return base, nil
}
