package imaging

import (
	"math"

	"github.com/davidbyttow/govips/v2/vips"
)

// Geometry steps of a frame (see frameSteps): the source crop, the resize
// and the fit (cover crop or contain padding) of the plan.

// cropSource cuts Variant.Crop out of the frame. The crop is in source
// pixels; the decoded image may be smaller.
func cropSource(r *renderCtx) error {
	if r.v.Crop == nil || r.resized {
		return nil
	}
	f, p, d := r.f, &r.p, r.d
	x := clamp(int(math.Round(float64(p.src.X)*d.sx)), 0, f.Width()-1)
	y := clamp(int(math.Round(float64(p.src.Y)*d.sy)), 0, f.Height()-1)
	w := clamp(int(math.Round(float64(p.src.Width)*d.sx)), 1, f.Width()-x)
	h := clamp(int(math.Round(float64(p.src.Height)*d.sy)), 1, f.Height()-y)
	return f.ExtractArea(x, y, w, h)
}

// resizeFrame resizes the frame to the plan's rw x rh (Lanczos3), unless
// loadFrame's fast path already did.
func resizeFrame(r *renderCtx) error {
	f, p := r.f, &r.p
	if r.resized || (f.Width() == p.rw && f.Height() == p.rh) {
		return nil
	}
	hs := float64(p.rw) / float64(f.Width())
	vs := float64(p.rh) / float64(f.Height())
	var err error
	if hs == vs {
		err = f.Resize(hs, vips.KernelLanczos3)
	} else {
		err = f.ResizeWithVScale(hs, vs, vips.KernelLanczos3)
	}
	if err != nil {
		return err
	}
	return exactSize(f, p.rw, p.rh)
}

// cropToFit cuts the plan's cw x ch window out of the resized frame
// (FitCover, and the unscaled crops without AllowUpscale): at the plan's
// position, or where a smart gravity finds it. For an animation the window
// is found on the first frame and kept for the others.
func cropToFit(r *renderCtx) error {
	f, p, g := r.f, &r.p, r.v.Gravity
	switch {
	case !p.crops():
		return nil
	case !g.smart():
		return f.ExtractArea(p.x, p.y, p.cw, p.ch)
	case r.cropAt != nil:
		return f.ExtractArea(r.cropAt[0], r.cropAt[1], p.cw, p.ch)
	case r.frames > 1:
		at, err := smartCropWindow(f, p.cw, p.ch, interesting(g))
		if err != nil {
			return err
		}
		r.cropAt = &at
		return f.ExtractArea(at[0], at[1], p.cw, p.ch)
	default:
		return f.SmartCrop(p.cw, p.ch, interesting(g))
	}
}

// padToFit places the resized frame on the plan's cw x ch canvas of the
// background colour (FitContain): with alpha when the format has it and
// the frame or the background is not opaque.
func padToFit(r *renderCtx) error {
	f, p, v := r.f, &r.p, &r.v
	if !p.pads() {
		return nil
	}
	bg := v.background()
	if v.Format.HasAlpha() && (f.HasAlpha() || bg[3] < 255) {
		if err := addAlpha(f); err != nil {
			return err
		}
		return f.EmbedBackgroundRGBA(p.x, p.y, p.cw, p.ch,
			&vips.ColorRGBA{R: bg[0], G: bg[1], B: bg[2], A: bg[3]})
	}
	return f.EmbedBackground(p.x, p.y, p.cw, p.ch, &vips.Color{R: bg[0], G: bg[1], B: bg[2]})
}
