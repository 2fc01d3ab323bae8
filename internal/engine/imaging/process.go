package imaging

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"
)

// The flow of Process: validate, probe, plan, decode once (decode.go), then
// render every variant from the decoded image and compute the extras
// (schedule.go; one variant's steps are in render.go).

// Process decodes src once and renders every variant from it.
//
// Input-caused failures are *Error (permanent). ctx is checked before
// decoding, between variants, between the steps of a variant (so between
// the frames of an animation) and between the attempts of a MaxBytes search
// (a running libvips operation is not interruptible, but every one of them
// is bounded by Limits); on cancellation ctx.Err() is returned. Other errors
// are internal and may be retried. Variants are assumed valid; ones that
// fail the sanity checks yield an error wrapping ErrInvalidVariant.
func Process(ctx context.Context, src []byte, variants []Variant, lim Limits) (*Result, error) {
	return process(ctx, memSource(src), variants, lim)
}

// ProcessFile is Process of the original in f, which libvips reads through
// a descriptor of its own: only the ends of the file (magic bytes, the
// polyglot check) come into the Go heap, never the whole of it. f must be a
// regular file that does not change while it is read; its offset is
// moved, so it must not be read with Read or Seek meanwhile (ReadAt is
// fine). A failure to read f is internal (transient), not an *Error.
func ProcessFile(ctx context.Context, f *os.File, variants []Variant, lim Limits) (*Result, error) {
	src, err := fileSource(f)
	if err != nil {
		return nil, err
	}
	return process(ctx, src, variants, lim)
}

// process does the work of Process and ProcessFile.
func process(ctx context.Context, src *source, variants []Variant, lim Limits) (*Result, error) {
	Startup(Config{})
	stateMu.RLock()
	defer stateMu.RUnlock()
	if stopped {
		return nil, errStopped
	}
	active.Add(1)
	defer active.Add(-1)
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
	res := &Result{Source: info, Variants: make([]Output, len(variants)), Start: start}
	if len(variants) == 0 {
		res.Decode = time.Since(start)
		return res, nil
	}
	plans, opt, err := planAll(info, variants, lim)
	if err != nil {
		return nil, err
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := decode(src, info, opt)
	if err != nil {
		return nil, err
	}
	defer d.close()
	d.lim = lim
	res.Decode = time.Since(start)

	if err := renderWithExtras(ctx, d, variants, plans, res); err != nil {
		return nil, err
	}
	return res, nil
}

// planAll plans every variant against the source and gathers what the one
// decode must provide for all of them (decodeOptions).
func planAll(info SourceInfo, variants []Variant, lim Limits) ([]plan, decodeOptions, error) {
	plans := make([]plan, len(variants))
	need := 0.0
	opt := decodeOptions{frames: 1}
	for i, v := range variants {
		if c := v.Crop; c != nil && (c.X+c.Width > info.Width || c.Y+c.Height > info.Height) {
			return nil, opt, newError(ErrInvalidCrop, fmt.Sprintf("variant %q: the crop %dx%d at %d,%d does not fit inside the %dx%d image",
				v.Name, c.Width, c.Height, c.X, c.Y, info.Width, info.Height), nil)
		}
		plans[i] = planVariant(v, info.Width, info.Height)
		if err := checkPlan(v, plans[i], lim); err != nil {
			return nil, opt, err
		}
		need = math.Max(need, plans[i].scale())
		opt.keepMeta = opt.keepMeta || v.metaWanted()
		opt.keepICC = opt.keepICC || v.KeepICC
		if info.Animated() && v.animated() {
			opt.frames = info.Frames
		}
	}
	opt.scale = math.Min(need, 1)
	if err := checkFramesMemory(info, opt, lim); err != nil {
		return nil, opt, err
	}
	return plans, opt, nil
}

// checkFramesMemory bounds the decoded frames of an animation, which stay in
// memory while the variants are made, like one still image.
func checkFramesMemory(info SourceInfo, opt decodeOptions, lim Limits) error {
	if opt.frames <= 1 {
		return nil
	}
	bw, bh := baseSize(info, opt.scale)
	if px := int64(bw) * int64(bh) * int64(opt.frames); px > lim.MaxPixels {
		return newError(ErrTooManyPixels, fmt.Sprintf(
			"the animation needs %d decoded pixels (%d frames of %dx%d) for these variants; the maximum is %d",
			px, opt.frames, bw, bh, lim.MaxPixels), nil)
	}
	return nil
}
