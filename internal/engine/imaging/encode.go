package imaging

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/davidbyttow/govips/v2/vips"
)

type encoded struct {
	data    []byte
	format  Format
	quality int // 0 for lossless output
}

// encode writes img (one frame, or frames stacked with their page height
// set) as v asks: it resolves FormatAuto, applies the metadata policy and
// lowers the quality to meet MaxBytes.
func encode(ctx context.Context, img *vips.ImageRef, v Variant, frames int, maxAVIF int64) (encoded, error) {
	strip, err := prepareMetadata(img, v)
	if err != nil {
		return encoded{}, err
	}
	f := v.Format
	px := int64(img.Width()) * int64(img.Height())
	if f == FormatAVIF && px > maxAVIF {
		return encoded{}, newError(ErrTooManyPixels, fmt.Sprintf(
			"variant %q: an AVIF variant may have at most %d pixels (the encoder's time and memory grow with them); this one has %d",
			v.Name, maxAVIF, px), nil)
	}
	var best *encoded
	if f == FormatAuto {
		if f, err = autoFormat(img, frames); err != nil {
			return encoded{}, err
		}
		if f == FormatAVIF && px > maxAVIF {
			f = FormatWebP
		}
		if f == FormatAVIF {
			// A photograph: AVIF and WebP both, keep the smaller.
			a, err := encodeAs(img, FormatAVIF, v, v.quality(FormatAVIF), strip)
			if err != nil {
				return encoded{}, err
			}
			if err := ctx.Err(); err != nil {
				return encoded{}, err
			}
			w, err := encodeAs(img, FormatWebP, v, v.quality(FormatWebP), strip)
			if err != nil {
				return encoded{}, err
			}
			best = &a
			if len(w.data) < len(a.data) {
				best, f = &w, FormatWebP
			}
		}
	}
	if best == nil {
		e, err := encodeAs(img, f, v, v.quality(f), strip)
		if err != nil {
			return encoded{}, err
		}
		best = &e
	}
	if v.MaxBytes <= 0 || len(best.data) <= v.MaxBytes {
		return *best, nil
	}

	// Too large: the highest quality in [floor, best.quality) that fits.
	// Try the floor first, to fail fast when nothing fits, then bisect
	// (encoded size grows with quality, near enough).
	floor := min(MinQuality, best.quality-1)
	unreachable := newError(ErrMaxBytesUnreachable, fmt.Sprintf(
		"variant %q: %s at quality %d is still larger than %d bytes", v.Name, f, max(floor, 1), v.MaxBytes), nil)
	if floor < 1 {
		return encoded{}, unreachable
	}
	fit, err := encodeAs(img, f, v, floor, strip)
	if err != nil {
		return encoded{}, err
	}
	if len(fit.data) > v.MaxBytes {
		return encoded{}, unreachable
	}
	for lo, hi := floor+1, best.quality-1; lo <= hi; {
		if err := ctx.Err(); err != nil {
			return encoded{}, err
		}
		q := lo + (hi-lo)/2
		e, err := encodeAs(img, f, v, q, strip)
		if err != nil {
			return encoded{}, err
		}
		if len(e.data) <= v.MaxBytes {
			fit, lo = e, q+1
		} else {
			hi = q - 1
		}
	}
	return fit, nil
}

// autoFormat picks FormatAuto's format from the content: WebP for an
// animation or visible transparency, otherwise AVIF meaning "a photograph:
// try AVIF and WebP". An alpha band that is fully opaque is dropped.
func autoFormat(img *vips.ImageRef, frames int) (Format, error) {
	if frames > 1 {
		return FormatWebP, nil
	}
	if img.HasAlpha() {
		alpha, err := img.ExtractBandToImage(img.Bands()-1, 1)
		if err != nil {
			return "", err
		}
		mean, err := alpha.Average()
		alpha.Close()
		if err != nil {
			return "", err
		}
		if mean < 255 {
			return FormatWebP, nil
		}
		if err := img.ExtractBand(0, img.Bands()-1); err != nil {
			return "", err
		}
	}
	return FormatAVIF, nil
}

// encodeAs encodes img as format f (concrete) at quality q.
func encodeAs(img *vips.ImageRef, f Format, v Variant, q int, strip bool) (encoded, error) {
	var (
		data []byte
		err  error
		out  = encoded{format: f, quality: q}
	)
	switch f {
	case FormatJPEG:
		sub := vips.VipsForeignSubsampleAuto
		switch v.JPEG.Subsampling {
		case Subsampling420:
			sub = vips.VipsForeignSubsampleOn
		case Subsampling444:
			sub = vips.VipsForeignSubsampleOff
		}
		data, _, err = img.ExportJpeg(&vips.JpegExportParams{
			StripMetadata:  strip,
			Quality:        q,
			Interlace:      v.JPEG.Progressive,
			OptimizeCoding: true,
			SubsampleMode:  sub,
		})
	case FormatPNG:
		p := &vips.PngExportParams{
			StripMetadata: strip,
			Compression:   6,
			Filter:        vips.PngFilterAll,
		}
		if c := v.PNG.Compression; c != nil {
			p.Compression = *c
		}
		if v.PNG.Palette {
			p.Palette = true
			p.Quality = q
			p.Bitdepth = 8
			if c := v.PNG.Colours; c > 0 {
				p.Bitdepth = bits.Len(uint(c)) - 1 // 2, 4, 16, 256 → 1, 2, 4, 8
			}
		} else {
			out.quality = 0
		}
		data, _, err = img.ExportPng(p)
	case FormatWebP:
		effort := 4
		if e := v.WebP.Effort; e != nil {
			effort = *e
		}
		p := &vips.WebpExportParams{
			StripMetadata:   strip,
			Quality:         q,
			Lossless:        v.WebP.Lossless,
			ReductionEffort: effort,
		}
		if v.WebP.Lossless {
			p.Quality, out.quality = 0, 0
		}
		if data, _, err = img.ExportWebp(p); err == nil {
			data, err = fixWebPMetadata(data, img, v, strip)
		}
	case FormatAVIF:
		effort := 4
		if e := v.AVIF.Effort; e != nil {
			effort = *e
		}
		data, _, err = img.ExportAvif(&vips.AvifExportParams{
			StripMetadata: strip,
			Quality:       q,
			Bitdepth:      8,
			Effort:        effort,
		})
	case FormatGIF:
		out.quality = 0
		data, _, err = img.ExportGIF(&vips.GifExportParams{
			StripMetadata: true,
			Effort:        7,
			Bitdepth:      8,
		})
	default:
		err = fmt.Errorf("%w: output format %q", ErrInvalidVariant, f)
	}
	if err == nil && !strip && v.StripMetadata && !v.KeepCopyright {
		data, err = dropEXIF(data, f)
	}
	out.data = data
	return out, err
}
