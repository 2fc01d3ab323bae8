package imaging

import "github.com/davidbyttow/govips/v2/vips"

// Colour steps of a frame (see frameSteps).

// leaveDevice converts a frame of a decoded image that kept the source's
// colour space (for another variant, see decoded.device) to sRGB, for a
// variant that does not keep the profile. Converting after the resize is
// cheaper.
func leaveDevice(r *renderCtx) error {
	if !r.d.device || r.v.KeepICC {
		return nil
	}
	return r.f.TransformICCProfileWithFallback(vips.SRGBV2MicroICCProfilePath, "srgb")
}

// finishColour leaves the frame as 8-bit RGB or RGBA: alpha flattened onto
// the background for formats without alpha, and an sRGB profile attached
// when the variant keeps a profile but has none.
func finishColour(r *renderCtx) error {
	f, v := r.f, &r.v
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
