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
	px := int64(img.Width()) * int64(img.Height())
	if v.Format == FormatAVIF && px > maxAVIF {
		return encoded{}, newError(ErrTooManyPixels, fmt.Sprintf(
			"variant %q: an AVIF variant may have at most %d pixels (the encoder's time and memory grow with them); this one has %d",
			v.Name, maxAVIF, px), nil)
	}
	best, err := encodeRequested(ctx, img, v, frames, px > maxAVIF, strip)
	if err != nil {
		return encoded{}, err
	}
	if v.MaxBytes <= 0 || len(best.data) <= v.MaxBytes {
		return best, nil
	}
	return fitMaxBytes(ctx, img, v, best, strip)
}

// encodeRequested encodes img in v's format at v's quality. FormatAuto
// becomes the format autoFormat picks (WebP rather than AVIF when
// avifTooLarge), and for a photograph the smaller of AVIF and WebP.
func encodeRequested(ctx context.Context, img *vips.ImageRef, v Variant, frames int, avifTooLarge, strip bool) (encoded, error) {
	f := v.Format
	if f == FormatAuto {
		var err error
		if f, err = autoFormat(img, frames); err != nil {
			return encoded{}, err
		}
		if f == FormatAVIF && avifTooLarge {
			f = FormatWebP
		}
		if f == FormatAVIF {
			return encodeSmaller(ctx, img, v, strip)
		}
	}
	return encodeAs(img, f, v, v.quality(f), strip)
}

// encodeSmaller encodes a photograph as AVIF and as WebP and keeps the
// smaller (AVIF when they are the same size).
func encodeSmaller(ctx context.Context, img *vips.ImageRef, v Variant, strip bool) (encoded, error) {
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
	if len(w.data) < len(a.data) {
		return w, nil
	}
	return a, nil
}

// fitMaxBytes re-encodes best, which is larger than v.MaxBytes, at the
// highest quality in [floor, best.quality) that fits. It tries the floor
// first, to fail fast when nothing fits, then bisects (encoded size grows
// with quality, near enough).
func fitMaxBytes(ctx context.Context, img *vips.ImageRef, v Variant, best encoded, strip bool) (encoded, error) {
	floor := min(MinQuality, best.quality-1)
	unreachable := newError(ErrMaxBytesUnreachable, fmt.Sprintf(
		"variant %q: %s at quality %d is still larger than %d bytes", v.Name, best.format, max(floor, 1), v.MaxBytes), nil)
	if floor < 1 {
		return encoded{}, unreachable
	}
	fit, err := encodeAs(img, best.format, v, floor, strip)
	if err != nil {
		return encoded{}, err
	}
	if len(fit.data) > v.MaxBytes {
		return encoded{}, unreachable
	}
	return bisectQuality(ctx, img, v, best.format, fit, floor+1, best.quality-1, strip)
}

// bisectQuality searches qualities lo..hi of format f for the highest whose
// encoding fits in v.MaxBytes, starting from fit (a lower quality that
// fits), which it returns when none does.
func bisectQuality(ctx context.Context, img *vips.ImageRef, v Variant, f Format, fit encoded, lo, hi int, strip bool) (encoded, error) {
	for lo <= hi {
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
	out := encoded{format: f, quality: q}
	enc, ok := formatEncoders[f]
	if !ok {
		return out, fmt.Errorf("%w: output format %q", ErrInvalidVariant, f)
	}
	data, quality, err := enc(img, v, q, strip)
	if err == nil && !strip && v.StripMetadata && !v.KeepCopyright {
		data, err = dropEXIF(data, f)
	}
	out.data, out.quality = data, quality
	return out, err
}

// A formatEncoder writes img in one format at quality q and returns the
// bytes and the quality it used (0 for lossless output).
type formatEncoder func(img *vips.ImageRef, v Variant, q int, strip bool) (data []byte, quality int, err error)

var formatEncoders = map[Format]formatEncoder{
	FormatJPEG: encodeJPEG,
	FormatPNG:  encodePNG,
	FormatWebP: encodeWebP,
	FormatAVIF: encodeAVIF,
	FormatGIF:  encodeGIF,
}

func encodeJPEG(img *vips.ImageRef, v Variant, q int, strip bool) ([]byte, int, error) {
	data, _, err := img.ExportJpeg(&vips.JpegExportParams{
		StripMetadata:  strip,
		Quality:        q,
		Interlace:      v.JPEG.Progressive,
		OptimizeCoding: true,
		SubsampleMode:  jpegSubsampleMode(v.JPEG.Subsampling),
	})
	return data, q, err
}

func jpegSubsampleMode(s Subsampling) vips.SubsampleMode {
	switch s {
	case Subsampling420:
		return vips.VipsForeignSubsampleOn
	case Subsampling444:
		return vips.VipsForeignSubsampleOff
	}
	return vips.VipsForeignSubsampleAuto
}

func encodePNG(img *vips.ImageRef, v Variant, q int, strip bool) ([]byte, int, error) {
	p := &vips.PngExportParams{
		StripMetadata: strip,
		Compression:   intOr(v.PNG.Compression, 6),
		Filter:        vips.PngFilterAll,
	}
	if !v.PNG.Palette {
		q = 0 // lossless
	} else {
		p.Palette = true
		p.Quality = q
		p.Bitdepth = 8
		if c := v.PNG.Colours; c > 0 {
			p.Bitdepth = bits.Len(uint(c)) - 1 // 2, 4, 16, 256 → 1, 2, 4, 8
		}
	}
	data, _, err := img.ExportPng(p)
	return data, q, err
}

// encodeWebP also rewrites the container to carry exactly the metadata v
// keeps (fixWebPMetadata).
func encodeWebP(img *vips.ImageRef, v Variant, q int, strip bool) ([]byte, int, error) {
	if v.WebP.Lossless {
		q = 0
	}
	data, _, err := img.ExportWebp(&vips.WebpExportParams{
		StripMetadata:   strip,
		Quality:         q,
		Lossless:        v.WebP.Lossless,
		ReductionEffort: intOr(v.WebP.Effort, 4),
	})
	if err != nil {
		return data, q, err
	}
	data, err = fixWebPMetadata(data, img, v, strip)
	return data, q, err
}

func encodeAVIF(img *vips.ImageRef, v Variant, q int, strip bool) ([]byte, int, error) {
	data, _, err := img.ExportAvif(&vips.AvifExportParams{
		StripMetadata: strip,
		Quality:       q,
		Bitdepth:      8,
		Effort:        intOr(v.AVIF.Effort, 4),
	})
	return data, q, err
}

// encodeGIF writes no metadata, whatever v keeps.
func encodeGIF(img *vips.ImageRef, _ Variant, _ int, _ bool) ([]byte, int, error) {
	data, _, err := img.ExportGIF(&vips.GifExportParams{
		StripMetadata: true,
		Effort:        7,
		Bitdepth:      8,
	})
	return data, 0, err
}

// intOr returns *p, or def when p is nil.
func intOr(p *int, def int) int {
	if p != nil {
		return *p
	}
	return def
}
