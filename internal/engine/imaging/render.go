package imaging

import (
	"context"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

// A variant is rendered as two named lists of steps sharing one renderCtx:
// frameSteps shape each frame (one, or every frame of an animation the
// variant keeps), then variantSteps make the output from the frames. A step
// that does not apply to the variant returns at once; the runner checks ctx
// before every step. The order of the steps (and of the libvips operations
// within them) is tuned for speed: see docs/BENCHMARKS.md.

// step is one stage of rendering a variant.
type step func(*renderCtx) error

// frameSteps load frame r.index into r.f and shape it: source crop, resize,
// colour space, fit (cover crop), blur, sharpen, fit (contain padding),
// watermark, final colour.
var frameSteps = []step{
	loadFrame,
	cropSource,     // steps_geometry.go
	resizeFrame,    // steps_geometry.go
	leaveDevice,    // steps_colour.go
	cropToFit,      // steps_geometry.go
	applyBlur,      // steps_effects.go
	applySharpen,   // steps_effects.go
	padToFit,       // steps_geometry.go
	applyWatermark, // steps_effects.go
	finishColour,   // steps_colour.go
}

// variantSteps make the output from the shaped frames.
var variantSteps = []step{
	joinFrames,
	encodeVariant,
}

// renderCtx is the state the steps of one variant share.
type renderCtx struct {
	ctx context.Context
	d   *decoded
	v   Variant
	p   plan

	frames int              // frames rendered: 1, or all of an animation
	imgs   []*vips.ImageRef // the frames shaped so far, closed by close
	wm     *vips.ImageRef   // the watermark, prepared on the first frame
	cropAt *[2]int          // a smart crop's window, decided on the first frame

	// The frame being shaped: its index, its image (the last of imgs), and
	// whether it is already resized (decoded.shrunk).
	index   int
	f       *vips.ImageRef
	resized bool

	out Output
}

// render derives one variant from the decoded image and encodes it.
func render(ctx context.Context, d *decoded, v Variant, p plan) (Output, error) {
	r := &renderCtx{ctx: ctx, d: d, v: v, p: p, frames: 1}
	if d.frames > 1 && v.animated() {
		r.frames = d.frames
	}
	r.imgs = make([]*vips.ImageRef, 0, r.frames)
	defer r.close()
	for r.index = 0; r.index < r.frames; r.index++ {
		if err := runSteps(r, frameSteps); err != nil {
			return Output{}, err
		}
	}
	if err := runSteps(r, variantSteps); err != nil {
		return Output{}, err
	}
	return r.out, nil
}

// runSteps runs steps in order, stopping at the first error or when ctx is
// done.
func runSteps(r *renderCtx, steps []step) error {
	for _, s := range steps {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if err := s(r); err != nil {
			return err
		}
	}
	return nil
}

// loadFrame starts frame r.index: the decoded image already shrunk to the
// resize size when the variant can use that fast path (first frame, no
// crop), else the frame itself.
func loadFrame(r *renderCtx) error {
	var f *vips.ImageRef
	var err error
	r.resized = false
	if r.v.Crop == nil && r.index == 0 {
		f, err = r.d.shrunk(r.p.rw, r.p.rh)
		r.resized = f != nil
	}
	if f == nil && err == nil {
		f, err = r.d.frame(r.index)
	}
	if err != nil {
		return err
	}
	r.imgs = append(r.imgs, f)
	r.f = f
	return nil
}

func (r *renderCtx) close() {
	for _, img := range r.imgs {
		img.Close()
	}
	if r.wm != nil {
		r.wm.Close()
	}
}

// joinFrames stacks the frames of an animation into the first frame's image
// (govips' ArrayJoin replaces it in place), with the page height, delays
// and loop count of the source. Output's size is that of one frame.
func joinFrames(r *renderCtx) error {
	img := r.imgs[0]
	r.out.Width, r.out.Height = img.Width(), img.Height()
	if r.frames == 1 {
		return nil
	}
	if err := img.ArrayJoin(r.imgs[1:], 1); err != nil {
		return err
	}
	if err := img.SetPageHeight(r.out.Height); err != nil {
		return err
	}
	if err := img.SetPages(r.frames); err != nil {
		return err
	}
	if err := img.SetPageDelay(r.d.delays); err != nil {
		return err
	}
	img.SetInt("loop", r.d.loop)
	return nil
}

// encodeVariant encodes the (joined) frames as the variant asks.
// It times the encoder (Output.Encode).
func encodeVariant(r *renderCtx) error {
	t0 := time.Now()
	enc, err := encode(r.ctx, r.imgs[0], r.v, r.frames, r.d.lim.MaxAVIFPixels)
	if err != nil {
		return err
	}
	r.out.Encode = time.Since(t0)
	r.out.Name = r.v.Name
	r.out.Format = enc.format
	r.out.ContentType = enc.format.ContentType()
	r.out.Frames = r.frames
	r.out.Quality = enc.quality
	r.out.Data = enc.data
	return nil
}
