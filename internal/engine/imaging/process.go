package imaging

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/sniff"
)

// Process decodes src once and renders every variant from it.
//
// Input-caused failures are *Error (permanent). ctx is checked before
// decoding, between variants, between the frames of an animation and
// between the attempts of a MaxBytes search (a running libvips operation is
// not interruptible, but every one of them is bounded by Limits); on
// cancellation ctx.Err() is returned. Other errors are internal and may be
// retried. Variants are assumed valid; ones that fail the sanity checks
// yield an error wrapping ErrInvalidVariant.
func Process(ctx context.Context, src []byte, variants []Variant, lim Limits) (*Result, error) {
	Startup(Config{})
	stateMu.RLock()
	defer stateMu.RUnlock()
	if stopped {
		return nil, errStopped
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	for _, v := range variants {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	info, err := probe(src, lim)
	if err != nil {
		return nil, err
	}
	res := &Result{Source: info, Variants: make([]Output, len(variants))}
	if len(variants) == 0 {
		res.Decode = time.Since(start)
		return res, nil
	}

	plans := make([]plan, len(variants))
	need := 0.0
	opt := decodeOptions{frames: 1}
	for i, v := range variants {
		if c := v.Crop; c != nil && (c.X+c.Width > info.Width || c.Y+c.Height > info.Height) {
			return nil, newError(ErrInvalidCrop, fmt.Sprintf("variant %q: the crop %dx%d at %d,%d does not fit inside the %dx%d image",
				v.Name, c.Width, c.Height, c.X, c.Y, info.Width, info.Height), nil)
		}
		plans[i] = planVariant(v, info.Width, info.Height)
		if err := checkPlan(v, plans[i], lim); err != nil {
			return nil, err
		}
		need = math.Max(need, plans[i].scale())
		opt.keepMeta = opt.keepMeta || v.metaWanted()
		opt.keepICC = opt.keepICC || v.KeepICC
		if info.Animated() && v.animated() {
			opt.frames = info.Frames
		}
	}
	scale := math.Min(need, 1)
	if opt.frames > 1 {
		// The decoded frames stay in memory while the variants are made:
		// bound them like one still image.
		bw, bh := baseSize(info, scale)
		if px := int64(bw) * int64(bh) * int64(opt.frames); px > lim.MaxPixels {
			return nil, newError(ErrTooManyPixels, fmt.Sprintf(
				"the animation needs %d decoded pixels (%d frames of %dx%d) for these variants; the maximum is %d",
				px, opt.frames, bw, bh, lim.MaxPixels), nil)
		}
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := decode(src, info, scale, opt)
	if err != nil {
		return nil, err
	}
	defer d.close()
	d.lim = lim
	res.Decode = time.Since(start)

	// The extras (a few ms) are computed alongside the variants when a job
	// may use more than one thread, else after them: a single-threaded job
	// stays on one core, so a pool of them scales with the cores.
	var extrasErr error
	if parallelism() > 1 {
		extrasDone := make(chan struct{})
		go func() {
			defer close(extrasDone)
			res.Extras, extrasErr = extras(d)
		}()
		err = renderAll(ctx, d, variants, plans, res.Variants)
		<-extrasDone
	} else if err = renderAll(ctx, d, variants, plans, res.Variants); err == nil {
		res.Extras, extrasErr = extras(d)
	}
	if err != nil {
		return nil, err
	}
	if extrasErr != nil {
		return nil, fmt.Errorf("imaging: extras: %w", cleanCause(extrasErr))
	}
	return res, nil
}

// renderAll renders the variants, up to Config.Parallelism at once, into
// outs (same order). The costliest start first (longest-processing-time
// first: the large WebP does not wait behind the thumbnail). The first error
// by variant order wins, except that an error caused by cancelling the
// others never hides the one that caused it.
func renderAll(ctx context.Context, d *decoded, variants []Variant, plans []plan, outs []Output) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	order := make([]int, len(variants))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return cost(d, variants[order[a]], plans[order[a]]) > cost(d, variants[order[b]], plans[order[b]])
	})
	queue := make(chan int, len(order))
	for _, i := range order {
		queue <- i
	}
	close(queue)

	errs := make([]error, len(variants))
	var wg sync.WaitGroup
	for w := 0; w < min(parallelism(), len(variants)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				t0 := time.Now()
				out, err := render(ctx, d, variants[i], plans[i])
				if err != nil {
					var ie *Error
					if !errors.As(err, &ie) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						err = fmt.Errorf("imaging: variant %q: %w", variants[i].Name, cleanCause(err))
					}
					errs[i] = err
					cancel()
					continue
				}
				out.Elapsed = time.Since(t0)
				outs[i] = out
			}
		}()
	}
	wg.Wait()
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// cost estimates the work of a variant: output pixels (all frames), with
// AVIF (tried for FormatAuto too) weighted as the slow encoder it is.
func cost(d *decoded, v Variant, p plan) float64 {
	c := float64(p.cw) * float64(p.ch)
	if d.frames > 1 && v.animated() {
		c *= float64(d.frames)
	}
	if v.Format == FormatAVIF || v.Format == FormatAuto {
		c *= 10
	}
	return c
}

func parallelism() int {
	if n := config.Parallelism; n > 0 {
		return n
	}
	return 1
}

// decodeHook, when set (tests only, see export_test.go), is called after
// every decode with the size of one frame of the decoded base image.
var decodeHook func(w, h int)

// decodeOptions say what the variants need from the decoded image.
type decodeOptions struct {
	keepMeta bool // some variant keeps metadata: carry it through
	keepICC  bool // some variant keeps the ICC profile
	frames   int  // frames to decode: 1, or all of an animation
}

// decoded is the source decoded once, from which every variant is derived.
type decoded struct {
	img *vips.ImageRef // in memory; all frames stacked vertically when frames > 1
	// frames, pageHeight: the frames in img and the height of one.
	frames, pageHeight int
	delays             []int // per frame, in ms
	loop               int   // 0 = forever
	// device: the pixels are in the source's own RGB colour space with its
	// ICC profile attached (some variant keeps the profile); otherwise sRGB.
	device bool
	// sx, sy: size of the decoded image relative to the upright source.
	sx, sy float64
	lim    Limits
}

func (d *decoded) close() { d.img.Close() }

// width and height of one frame.
func (d *decoded) width() int  { return d.img.Width() }
func (d *decoded) height() int { return d.pageHeight }

// frame returns a new image of frame i.
func (d *decoded) frame(i int) (*vips.ImageRef, error) {
	f, err := d.img.Copy()
	if err != nil {
		return nil, err
	}
	if d.frames > 1 {
		if err := f.ExtractArea(0, i*d.pageHeight, d.img.Width(), d.pageHeight); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// shrinkViaThumbnail is the scale below which shrunk copies are made by
// vips_thumbnail with line caches rather than by the variant's own
// vips_resize. The decoded image is random access, for which vips_resize
// adds no line caches and recomputes the box-shrunk lines its Lanczos
// kernel overlaps: about 3x slower for strong reductions (27 ms against
// 8 ms for 1600x900 to 64x64 here). For mild reductions vips_resize is a
// little faster.
const shrinkViaThumbnail = 0.4

// shrunk returns a new copy of the (single-frame) decoded image resized to
// w x h, or nil when the reduction is too mild for the fast path (see
// shrinkViaThumbnail). Like the decoded image, it is evaluated into memory
// (it is small), so it can be read more than once (smart crop, FormatAuto,
// MaxBytes). It carries the metadata of the decoded image.
func (d *decoded) shrunk(w, h int) (*vips.ImageRef, error) {
	if d.frames > 1 || float64(w) > shrinkViaThumbnail*float64(d.img.Width()) || float64(h) > shrinkViaThumbnail*float64(d.img.Height()) {
		return nil, nil
	}
	t, err := d.img.Copy()
	if err != nil {
		return nil, err
	}
	defer t.Close()
	// What a sequential loader sets: vips_shrinkv and vips_reducev then add
	// the line caches that make a strong reduction cheap. The source is in
	// memory, so the caches only save recomputation.
	t.SetInt(metaSequential, 1)
	if err := t.ThumbnailWithSize(w, h, vips.InterestingNone, vips.SizeForce); err != nil {
		return nil, err
	}
	f, err := copyMemory(t)
	if err != nil {
		return nil, err
	}
	removeField(f, metaSequential)
	if err := exactSize(f, w, h); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// metaSequential is libvips' VIPS_META_SEQUENTIAL.
const metaSequential = "vips-sequential"

// materialise evaluates img (which may be a read-once pipeline) into memory
// and returns a random-access image over it, without metadata when strip.
func materialise(img *vips.ImageRef, strip bool) (*vips.ImageRef, error) {
	mem, err := copyMemory(img)
	if err != nil {
		return nil, err
	}
	if strip {
		if err := stripAll(mem); err != nil {
			mem.Close()
			return nil, err
		}
	}
	return mem, nil
}

func baseSize(info SourceInfo, scale float64) (int, int) {
	return max(1, int(math.Ceil(float64(info.Width)*scale))), max(1, int(math.Ceil(float64(info.Height)*scale)))
}

// decode loads src once with shrink-on-load to (at least) scale times the
// upright source size, applies the EXIF orientation, converts to 8-bit sRGB
// (or keeps an RGB source's own colour space when a variant keeps its
// profile) and evaluates the pipeline into memory, so the variants can all
// be derived from it. For an animation it decodes all frames. libvips'
// errors here are the input's fault: they become ErrCorrupt.
func decode(src []byte, info SourceInfo, scale float64, opt decodeOptions) (*decoded, error) {
	bw, bh := baseSize(info, scale)
	params := importParams()
	if opt.frames > 1 {
		params.NumPages.Set(-1)
	}

	// vips_thumbnail: picks the JPEG/WebP/HEIF shrink-on-load factor from the
	// box, auto-rotates by EXIF orientation (all eight, and removes the
	// tag), resizes with premultiplied alpha, and sizes animations by their
	// page height. SizeDown: the base is never enlarged.
	//
	// A JPEG skips it (jpegUpright): the loader with the largest
	// shrink-on-load that stays above the box (vips_thumbnail keeps a
	// factor of 2 for its resize: 5120 px to 1600 decodes at full size
	// instead of 1/2), then the same Lanczos3 resize. 6-8 % less CPU on
	// JPEGs and less memory, for outputs within 0.3 dB PSNR of a full-size
	// Lanczos3 reference (docs/BENCHMARKS.md); sharp does the same
	// (fastShrinkOnLoad).
	var thumb *vips.ImageRef
	var err error
	var pin runtime.Pinner
	defer pin.Unpin()
	switch {
	case info.Format == sniff.HEIF:
		thumb, err = loadHEIF(src, info, bw, bh)
	case info.cmyk:
		thumb, err = loadCMYK(src, info, bw, bh)
	case info.Format == sniff.JPEG:
		thumb, err = jpegUpright(src, info, bw, bh, &pin)
	default:
		thumb, err = vips.LoadThumbnailFromBuffer(src, bw, bh, vips.InterestingNone, vips.SizeDown, params)
	}
	if isInternalHEIF(err) {
		return nil, err
	}
	if err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	defer thumb.Close()
	if loader := thumb.GetString("vips-loader"); !strings.HasPrefix(loader, expectedLoader(info.Format)) {
		return nil, newError(ErrUnsupportedFormat, "", fmt.Errorf("magic says %s but libvips chose %q", info.Format, loader))
	}

	d := &decoded{frames: 1}
	if opt.frames > 1 {
		n, ph := thumb.Pages(), thumb.PageHeight()
		if n != opt.frames || ph <= 0 || ph*n != thumb.Height() {
			return nil, newError(ErrCorrupt, "", fmt.Errorf("animation: header said %d frames, decoded %d of height %d in %d rows", opt.frames, n, ph, thumb.Height()))
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
	}

	d.device = opt.keepICC && rgbProfile(thumb)
	if err := toSRGB(thumb, d.device); err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	if d.frames > 1 {
		// One page for the TIFF below; frames are tracked in d.
		if err := thumb.SetPageHeight(thumb.Height()); err != nil {
			return nil, fmt.Errorf("imaging: page height: %w", cleanCause(err))
		}
	}

	// The thumbnail is a lazy pipeline over a sequential loader: it can be
	// read exactly once ("out of order read" otherwise). Evaluate it once
	// into memory (libvips' allocation, not the Go heap), random access from
	// then on. This is where the source's pixels are actually decoded, so a
	// truncated or damaged file fails here.
	base, err := copyMemory(thumb)
	if err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	removeField(base, metaSequential)
	if opt.keepMeta {
		base.SetInt("orientation", 1) // the pixels are upright
	} else if err := stripAll(base); err != nil {
		base.Close()
		return nil, fmt.Errorf("imaging: strip decoded image: %w", cleanCause(err))
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

// jpegUpright decodes a JPEG with jpegFit and makes it upright. For EXIF
// orientations other than 1 the stored image is fitted within the rotated box,
// evaluated into memory (rotation needs random access) and rotated there,
// which also removes the orientation tag.
func jpegUpright(src []byte, info SourceInfo, bw, bh int, pin *runtime.Pinner) (*vips.ImageRef, error) {
	if info.Orientation == 1 {
		return jpegFit(src, info.Width, info.Height, bw, bh, pin)
	}
	sw, sh, fw, fh := info.Width, info.Height, bw, bh
	if info.Orientation >= 5 { // stored transposed
		sw, sh, fw, fh = sh, sw, fh, fw
	}
	t, err := jpegFit(src, sw, sh, fw, fh, pin)
	if err != nil {
		return nil, err
	}
	mem, err := copyMemory(t)
	t.Close()
	if err != nil {
		return nil, err
	}
	if err := mem.AutoRotate(); err != nil {
		mem.Close()
		return nil, err
	}
	return mem, nil
}

// loadCMYK decodes a CMYK image to sRGB, upright, fitted within bw x bh.
//
// vips_thumbnail would import CMYK itself, but always with the relative
// colorimetric intent; press profiles often carry only perceptual tables
// (Ghostscript's ps_cmyk, many GRACoL/FOGRA variants), and libvips 8.14 then
// silently falls back to its built-in CMYK profile: visibly wrong colours.
// So CMYK is loaded directly (with JPEG shrink-on-load), converted through
// its embedded profile with the perceptual intent, and resized here.
func loadCMYK(src []byte, info SourceInfo, bw, bh int) (*vips.ImageRef, error) {
	params := importParams()
	if info.Format == sniff.JPEG {
		params.JpegShrinkFactor.Set(jpegShrink(info.Width, info.Height, bw, bh))
	}
	img, err := vips.LoadImageFromBuffer(src, params)
	if err != nil {
		return nil, err
	}
	if err := img.AutoRotate(); err != nil {
		img.Close()
		return nil, err
	}
	if err := toSRGB(img, false); err != nil {
		img.Close()
		return nil, err
	}
	if s := math.Min(float64(bw)/float64(img.Width()), float64(bh)/float64(img.Height())); s < 1 {
		if err := img.Resize(s, vips.KernelLanczos3); err != nil {
			img.Close()
			return nil, err
		}
	}
	return img, nil
}

// rgbProfile reports whether img is an RGB image with an embedded RGB ICC
// profile (Adobe RGB, Display P3, ProPhoto, …), whose pixels can stay in
// that colour space for a variant that keeps the profile.
func rgbProfile(img *vips.ImageRef) bool {
	if !img.HasICCProfile() || img.Bands() < 3 {
		return false
	}
	switch img.Interpretation() {
	case vips.InterpretationSRGB, vips.InterpretationRGB16:
	default:
		return false
	}
	p := img.GetICCProfile()
	return len(p) >= 20 && string(p[16:20]) == "RGB "
}

// toSRGB converts img to 8-bit sRGB (3 bands, or 4 with alpha). An embedded
// ICC profile is honoured (e.g. Display P3, Adobe RGB, CMYK); a broken one is
// ignored and the generic colourspace conversion used instead. With device,
// an RGB image keeps its own colour space (and profile) and only becomes
// 8-bit.
func toSRGB(img *vips.ImageRef, device bool) error {
	if img.HasICCProfile() && !device {
		// embedded=true: the image's own profile is the input ("srgb", libvips'
		// built-in profile, is the fallback). The output is tagged with
		// govips' compact sRGB profile (456 bytes; libvips' own is 3 KB),
		// which is what a variant that keeps the profile carries.
		//
		// A CMYK (LUT-based) profile goes to libvips' own sRGB profile
		// instead: with the perceptual intent, lcms pairs a v4 CMYK profile
		// badly with the compact v2 matrix profile (libvips 8.18 renders a
		// CMYK photo visibly lighter and bluer through it than through its
		// own sRGB; for matrix RGB profiles the two agree).
		// A second, near-identity, transform then tags it with the compact
		// profile.
		if img.Interpretation() == vips.InterpretationCMYK {
			if err := img.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
				_ = img.RemoveICCProfile()
			}
		}
		if err := img.TransformICCProfileWithFallback(vips.SRGBV2MicroICCProfilePath, "srgb"); err != nil {
			_ = img.RemoveICCProfile()
		}
	}
	if img.Interpretation() != vips.InterpretationSRGB || img.BandFormat() != vips.BandFormatUchar {
		if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return err
		}
	}
	if img.BandFormat() != vips.BandFormatUchar {
		if err := img.Cast(vips.BandFormatUchar); err != nil {
			return err
		}
	}
	if img.Bands() > 4 {
		if err := img.ExtractBand(0, 4); err != nil {
			return err
		}
	}
	return nil
}

// stripAll removes every metadata field and the ICC profile from img.
func stripAll(img *vips.ImageRef) error {
	if err := img.RemoveMetadata(); err != nil {
		return err
	}
	if img.HasICCProfile() {
		return img.RemoveICCProfile()
	}
	return nil
}

// exactSize trims or extends img to w x h; vips_resize can be a pixel off
// from the requested size.
func exactSize(img *vips.ImageRef, w, h int) error {
	if img.Width() == w && img.Height() == h {
		return nil
	}
	if img.Width() > w || img.Height() > h {
		if err := img.ExtractArea(0, 0, min(w, img.Width()), min(h, img.Height())); err != nil {
			return err
		}
	}
	if img.Width() < w || img.Height() < h {
		return img.Embed(0, 0, w, h, vips.ExtendCopy)
	}
	return nil
}
