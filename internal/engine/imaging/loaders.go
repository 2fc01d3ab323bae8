package imaging

import (
	"fmt"
	"math"
	"runtime"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/sniff"
)

// Loaders that decode does not leave to vips_thumbnail (HEIF: heif.go).

// jpegUpright decodes a JPEG with jpegFit and makes it upright. For EXIF
// orientations other than 1 the stored image is fitted within the rotated box,
// evaluated into memory (rotation needs random access) and rotated there,
// which also removes the orientation tag.
func jpegUpright(src *source, info SourceInfo, bw, bh int, pin *runtime.Pinner) (*vips.ImageRef, error) {
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
func loadCMYK(src *source, info SourceInfo, bw, bh int, pin *runtime.Pinner) (*vips.ImageRef, error) {
	options := failOnError
	if info.Format == sniff.JPEG {
		options += fmt.Sprintf(",shrink=%d", jpegShrink(info.Width, info.Height, bw, bh))
	}
	img, err := loadSource(src, options, pin)
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
