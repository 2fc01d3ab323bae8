package imaging

import "github.com/davidbyttow/govips/v2/vips"

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
		importProfile(img)
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

// importProfile transforms img through its embedded ICC profile to sRGB,
// or drops a profile that does not work.
//
// embedded=true: the image's own profile is the input ("srgb", libvips'
// built-in profile, is the fallback). The output is tagged with govips'
// compact sRGB profile (456 bytes; libvips' own is 3 KB), which is what a
// variant that keeps the profile carries.
//
// A CMYK (LUT-based) profile goes to libvips' own sRGB profile instead: with
// the perceptual intent, lcms pairs a v4 CMYK profile badly with the compact
// v2 matrix profile (libvips 8.18 renders a CMYK photo visibly lighter and
// bluer through it than through its own sRGB; for matrix RGB profiles the
// two agree). A second, near-identity, transform then tags it with the
// compact profile.
func importProfile(img *vips.ImageRef) {
	if img.Interpretation() == vips.InterpretationCMYK {
		if err := img.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
			_ = img.RemoveICCProfile()
		}
	}
	if err := img.TransformICCProfileWithFallback(vips.SRGBV2MicroICCProfilePath, "srgb"); err != nil {
		_ = img.RemoveICCProfile()
	}
}
