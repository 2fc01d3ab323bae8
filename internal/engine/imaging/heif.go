package imaging

// HEIF (HEIC: HEVC-coded HEIF, what phones write) is decoded with the
// system's libheif (package heif) rather than through libvips: the libvips
// imagepipe links by default (sharp's prebuilt 8.18, scripts/libvips.sh)
// has no HEVC decoder, as it ships no patent-encumbered codecs. One path
// for every build. AVIF still goes through libvips' own heifload.

import (
	"errors"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/heif"
)

// isInternalHEIF reports a HEIF error that is not the input's fault.
func isInternalHEIF(err error) bool { return errors.Is(err, heif.ErrHeaders) }

// loadHEIF decodes the primary image of a HEIF file (upright, 8-bit RGB or
// RGBA, with its ICC profile; EXIF and XMP are not carried over: no public
// libvips call parses a raw EXIF block into the fields the metadata policy
// filters) and fits it within bw x bh, never enlarging. The decoded size
// must be the header's (info, checked against the limits). Colour
// conversion is left to decode. libheif reads only from memory: a file is
// mapped (source.mapped), not copied.
func loadHEIF(src *source, info SourceInfo, bw, bh int) (*vips.ImageRef, error) {
	data, unmap, err := src.mapped()
	if err != nil {
		return nil, err
	}
	px, err := heif.Decode(data, info.Width, info.Height)
	unmap() // the pixels are libheif's own
	if err != nil {
		return nil, err
	}
	img, err := fromPixels(px.Pix, px.Width, px.Height, px.Bands, px.Stride, px.ICC, "heifload_libheif")
	px.Close()
	if err != nil {
		return nil, err
	}
	if img.Width() > bw || img.Height() > bh {
		// vips_thumbnail_image resizes with premultiplied alpha.
		if err := img.ThumbnailWithSize(bw, bh, vips.InterestingNone, vips.SizeDown); err != nil {
			img.Close()
			return nil, err
		}
	}
	return img, nil
}
