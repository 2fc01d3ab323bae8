package imaging

import "github.com/davidbyttow/govips/v2/vips"

// Small libvips helpers shared by decoding, the render steps, watermarks
// and the extras.

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

// toUchar casts f to 8 bits per band unless it already is.
func toUchar(f *vips.ImageRef) error {
	if f.BandFormat() == vips.BandFormatUchar {
		return nil
	}
	return f.Cast(vips.BandFormatUchar)
}

// addAlpha adds an opaque alpha band unless f has one.
func addAlpha(f *vips.ImageRef) error {
	if f.HasAlpha() {
		return nil
	}
	return f.AddAlpha()
}
