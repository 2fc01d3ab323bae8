package imaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/davidbyttow/govips/v2/vips"
)

// render derives one variant from the decoded image and encodes it.
func render(ctx context.Context, d *decoded, v Variant, p plan) (Output, error) {
	frames := 1
	if d.frames > 1 && v.animated() {
		frames = d.frames
	}
	imgs := make([]*vips.ImageRef, 0, frames)
	defer func() {
		for _, img := range imgs {
			img.Close()
		}
	}()
	var wm *vips.ImageRef
	defer func() {
		if wm != nil {
			wm.Close()
		}
	}()
	var cropAt *[2]int // a smart crop's window, decided on the first frame
	for i := 0; i < frames; i++ {
		if i%8 == 7 {
			if err := ctx.Err(); err != nil {
				return Output{}, err
			}
		}
		var f *vips.ImageRef
		var err error
		resized := false
		if v.Crop == nil && i == 0 {
			f, err = d.shrunk(p.rw, p.rh)
			resized = f != nil
		}
		if f == nil && err == nil {
			f, err = d.frame(i)
		}
		if err != nil {
			return Output{}, err
		}
		imgs = append(imgs, f)
		if err := shape(f, d, v, p, resized, &cropAt); err != nil {
			return Output{}, err
		}
		if v.Watermark != nil {
			if wm == nil {
				if wm, err = v.Watermark.prepare(f.Width(), f.Height()); err != nil {
					return Output{}, fmt.Errorf("watermark: %w", err)
				}
			}
			if err := v.Watermark.apply(f, wm); err != nil {
				return Output{}, fmt.Errorf("watermark: %w", err)
			}
		}
		if err := finishColour(f, v); err != nil {
			return Output{}, err
		}
	}

	img := imgs[0]
	w, h := img.Width(), img.Height()
	if frames > 1 {
		if err := img.ArrayJoin(imgs[1:], 1); err != nil {
			return Output{}, err
		}
		if err := img.SetPageHeight(h); err != nil {
			return Output{}, err
		}
		if err := img.SetPages(frames); err != nil {
			return Output{}, err
		}
		if err := img.SetPageDelay(d.delays); err != nil {
			return Output{}, err
		}
		img.SetInt("loop", d.loop)
	}

	enc, err := encode(ctx, img, v, frames, d.lim.MaxAVIFPixels)
	if err != nil {
		return Output{}, err
	}
	return Output{
		Name:        v.Name,
		Format:      enc.format,
		ContentType: enc.format.ContentType(),
		Width:       w,
		Height:      h,
		Frames:      frames,
		Quality:     enc.quality,
		Data:        enc.data,
	}, nil
}

// shape applies the geometry, colour conversion and effects of v to one
// frame f of the decoded image: crop, resize (unless resized), fit (cover
// crop or contain padding), blur, sharpen. For a smart crop of an
// animation, *cropAt carries the window chosen on the first frame to the
// others.
func shape(f *vips.ImageRef, d *decoded, v Variant, p plan, resized bool, cropAt **[2]int) error {
	if v.Crop != nil && !resized {
		// The crop is in source pixels; the decoded image may be smaller.
		x := clamp(int(math.Round(float64(p.src.X)*d.sx)), 0, f.Width()-1)
		y := clamp(int(math.Round(float64(p.src.Y)*d.sy)), 0, f.Height()-1)
		w := clamp(int(math.Round(float64(p.src.Width)*d.sx)), 1, f.Width()-x)
		h := clamp(int(math.Round(float64(p.src.Height)*d.sy)), 1, f.Height()-y)
		if err := f.ExtractArea(x, y, w, h); err != nil {
			return err
		}
	}
	if !resized && (f.Width() != p.rw || f.Height() != p.rh) {
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
		if err := exactSize(f, p.rw, p.rh); err != nil {
			return err
		}
	}
	if d.device && !v.KeepICC {
		// The decoded image kept the source's colour space for another
		// variant; this one is sRGB. Converting after the resize is cheaper.
		if err := f.TransformICCProfileWithFallback(vips.SRGBV2MicroICCProfilePath, "srgb"); err != nil {
			return err
		}
	}

	if p.crops() {
		var err error
		switch {
		case !v.Gravity.smart():
			err = f.ExtractArea(p.x, p.y, p.cw, p.ch)
		case *cropAt != nil:
			err = f.ExtractArea((*cropAt)[0], (*cropAt)[1], p.cw, p.ch)
		case d.frames > 1 && v.animated():
			var at [2]int
			if at, err = smartCropWindow(f, p.cw, p.ch, interesting(v.Gravity)); err == nil {
				*cropAt = &at
				err = f.ExtractArea(at[0], at[1], p.cw, p.ch)
			}
		default:
			err = f.SmartCrop(p.cw, p.ch, interesting(v.Gravity))
		}
		if err != nil {
			return err
		}
	}

	if v.Blur > 0 {
		if err := blur(f, v.Blur); err != nil {
			return err
		}
	}
	if v.Sharpen > 0 {
		// libvips' defaults for the flat/jaggy threshold and slopes.
		if err := f.Sharpen(v.Sharpen, 2, 3); err != nil {
			return err
		}
		if err := toUchar(f); err != nil {
			return err
		}
	}

	if p.pads() {
		bg := v.background()
		var err error
		if v.Format.HasAlpha() && (f.HasAlpha() || bg[3] < 255) {
			if err = addAlpha(f); err == nil {
				err = f.EmbedBackgroundRGBA(p.x, p.y, p.cw, p.ch,
					&vips.ColorRGBA{R: bg[0], G: bg[1], B: bg[2], A: bg[3]})
			}
		} else {
			err = f.EmbedBackground(p.x, p.y, p.cw, p.ch, &vips.Color{R: bg[0], G: bg[1], B: bg[2]})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func interesting(g Gravity) vips.Interesting {
	if g == GravitySmartEntropy {
		return vips.InterestingEntropy
	}
	return vips.InterestingAttention
}

// smartCropWindow runs libvips' smart crop on a copy of f and returns where
// the chosen window lies in f. govips does not expose smartcrop's position,
// so the window is found by matching its pixels (an exact copy) against f.
func smartCropWindow(f *vips.ImageRef, cw, ch int, mode vips.Interesting) ([2]int, error) {
	c, err := f.Copy()
	if err != nil {
		return [2]int{}, err
	}
	defer c.Close()
	if err := c.SmartCrop(cw, ch, mode); err != nil {
		return [2]int{}, err
	}
	full, err := f.ToBytes()
	if err != nil {
		return [2]int{}, err
	}
	win, err := c.ToBytes()
	if err != nil {
		return [2]int{}, err
	}
	bands := f.Bands()
	fw, fh := f.Width(), f.Height()
	if len(full) != fw*fh*bands || len(win) != cw*ch*bands {
		return [2]int{}, errors.New("smart crop: unexpected pixel layout")
	}
	row := cw * bands
	for y := 0; y+ch <= fh; y++ {
	next:
		for x := 0; x+cw <= fw; x++ {
			for r := 0; r < ch; r++ {
				off := ((y+r)*fw + x) * bands
				if !bytes.Equal(full[off:off+row], win[r*row:(r+1)*row]) {
					continue next
				}
			}
			return [2]int{x, y}, nil
		}
	}
	return [2]int{}, errors.New("smart crop: window not found")
}

// directBlurMax is the largest sigma blurred directly: a Gaussian's cost
// grows with sigma (1.2 s for sigma 50 on 1600x900 here, minutes on the
// largest outputs), so wider blurs are done on a shrunk copy.
const directBlurMax = 8

// blur applies a Gaussian blur, on premultiplied alpha when there is alpha
// (otherwise transparent pixels' colours bleed into the visible ones). A
// blur wider than directBlurMax shrinks the image by sigma/4, blurs that
// with sigma 4 and enlarges it back: the result is smooth either way, and
// the cost no longer depends on sigma.
func blur(f *vips.ImageRef, sigma float64) error {
	alpha := f.HasAlpha()
	if alpha {
		if err := f.PremultiplyAlpha(); err != nil {
			return err
		}
	}
	if sigma <= directBlurMax {
		if err := f.GaussianBlur(sigma); err != nil {
			return err
		}
	} else {
		w, h := f.Width(), f.Height()
		k := sigma / 4
		sw, sh := max(1, int(math.Round(float64(w)/k))), max(1, int(math.Round(float64(h)/k)))
		if err := f.ResizeWithVScale(float64(sw)/float64(w), float64(sh)/float64(h), vips.KernelLinear); err != nil {
			return err
		}
		if err := f.GaussianBlur(4 * float64(f.Width()) * k / float64(w)); err != nil {
			return err
		}
		if err := f.ResizeWithVScale(float64(w)/float64(f.Width()), float64(h)/float64(f.Height()), vips.KernelLinear); err != nil {
			return err
		}
		if err := exactSize(f, w, h); err != nil {
			return err
		}
	}
	if alpha {
		if err := f.UnpremultiplyAlpha(); err != nil {
			return err
		}
	}
	return toUchar(f)
}

func toUchar(f *vips.ImageRef) error {
	if f.BandFormat() == vips.BandFormatUchar {
		return nil
	}
	return f.Cast(vips.BandFormatUchar)
}

func addAlpha(f *vips.ImageRef) error {
	if f.HasAlpha() {
		return nil
	}
	return f.AddAlpha()
}

// finishColour leaves f as 8-bit RGB or RGBA: alpha flattened onto the
// background for formats without alpha, and an sRGB profile attached when
// the variant keeps a profile but has none.
func finishColour(f *vips.ImageRef, v Variant) error {
	if err := toUchar(f); err != nil {
		return err
	}
	if !v.Format.HasAlpha() && f.HasAlpha() {
		bg := v.background()
		if err := f.Flatten(&vips.Color{R: bg[0], G: bg[1], B: bg[2]}); err != nil {
			return err
		}
		if err := toUchar(f); err != nil {
			return err
		}
	}
	if v.KeepICC && !f.HasICCProfile() {
		// Tag as sRGB: an sRGB → sRGB transform attaches the output profile.
		// govips' compact sRGB v2 profile is 456 bytes where libvips'
		// built-in one is 3 KB (govips writes it to a temporary file once).
		if err := f.TransformICCProfileWithFallback(vips.SRGBV2MicroICCProfilePath, "srgb"); err != nil {
			return err
		}
	}
	return nil
}
