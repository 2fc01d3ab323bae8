package imaging

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/davidbyttow/govips/v2/vips"
)

// Process decodes src once and renders every variant from it.
//
// Input-caused failures are *Error (permanent). ctx is checked before
// decoding and between variants (a running libvips decode is not
// interruptible); on cancellation ctx.Err() is returned. Other errors are
// internal and may be retried. Variants are assumed valid; ones that fail the
// sanity checks yield an error wrapping ErrInvalidVariant.
func Process(ctx context.Context, src []byte, variants []Variant, lim Limits) (*Result, error) {
	Startup(Config{})
	stateMu.RLock()
	defer stateMu.RUnlock()
	if stopped {
		return nil, errStopped
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	for _, v := range variants {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}

	info, err := probe(src, lim)
	if err != nil {
		return nil, err
	}
	res := &Result{Source: info, Variants: make([]Output, 0, len(variants))}
	if len(variants) == 0 {
		return res, nil
	}

	plans := make([]plan, len(variants))
	need := 0.0
	keepMeta := false
	for i, v := range variants {
		plans[i] = planFor(v, info.Width, info.Height)
		if err := checkPlan(v, plans[i], lim); err != nil {
			return nil, err
		}
		need = math.Max(need, plans[i].scale(info.Width, info.Height))
		keepMeta = keepMeta || !v.StripMetadata
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	base, err := decode(src, info, math.Min(need, 1), keepMeta)
	if err != nil {
		return nil, err
	}
	defer base.Close()

	for i, v := range variants {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out, err := render(base, v, plans[i])
		if err != nil {
			return nil, fmt.Errorf("imaging: variant %q: %w", v.Name, cleanCause(err))
		}
		res.Variants = append(res.Variants, out)
	}
	return res, nil
}

// decodeHook, when set (tests only, see export_test.go), is called after
// every decode with the size of the decoded base image.
var decodeHook func(w, h int)

// decode loads src once with shrink-on-load to (at least) scale times the
// upright source size, applies the EXIF orientation, converts to 8-bit sRGB
// and evaluates the pipeline into memory, so the variants can all be derived
// from it. libvips' errors here are the input's fault: they become
// ErrCorrupt.
func decode(src []byte, info SourceInfo, scale float64, keepMeta bool) (*vips.ImageRef, error) {
	bw := max(1, int(math.Ceil(float64(info.Width)*scale)))
	bh := max(1, int(math.Ceil(float64(info.Height)*scale)))

	// vips_thumbnail: picks the JPEG/WebP/HEIF shrink-on-load factor from the
	// box, auto-rotates by EXIF orientation (and removes the tag), resizes
	// with premultiplied alpha. SizeDown: the base is never enlarged.
	thumb, err := vips.LoadThumbnailFromBuffer(src, bw, bh, vips.InterestingNone, vips.SizeDown, importParams())
	if err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	defer thumb.Close()
	if loader := thumb.GetString("vips-loader"); !strings.HasPrefix(loader, expectedLoader(info.Format)) {
		return nil, newError(ErrUnsupportedFormat, "", fmt.Errorf("magic says %s but libvips chose %q", info.Format, loader))
	}

	if err := toSRGB(thumb); err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}

	// The thumbnail is a lazy pipeline over a sequential loader: it can be
	// read exactly once ("out of order read" otherwise). Evaluate it once into
	// an uncompressed in-memory TIFF (≈ a memcpy) and reopen that with random
	// access. This is where the source's pixels are actually decoded, so a
	// truncated or damaged file fails here.
	raw, _, err := thumb.ExportTiff(&vips.TiffExportParams{
		// TIFF carries XMP, IPTC and ICC through; EXIF is re-attached below.
		StripMetadata: !keepMeta,
		Compression:   vips.TiffCompressionNone,
		Predictor:     vips.TiffPredictorNone,
		TileWidth:     256, // unused (no tiling); 0 makes GLib warn
		TileHeight:    256,
	})
	if err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	mem, err := vips.LoadImageFromBuffer(raw, importParams())
	if err != nil {
		return nil, fmt.Errorf("imaging: reopen decoded image: %w", cleanCause(err))
	}
	base, err := mem.Copy() // own image, so setting metadata cannot touch a cached one
	mem.Close()
	if err != nil {
		return nil, fmt.Errorf("imaging: copy decoded image: %w", cleanCause(err))
	}
	if keepMeta {
		copyMetadata(thumb, base)
	}
	if decodeHook != nil {
		decodeHook(base.Width(), base.Height())
	}
	return base, nil
}

// toSRGB converts img to 8-bit sRGB (3 bands, or 4 with alpha). An embedded
// ICC profile is honoured (e.g. Display P3, Adobe RGB, CMYK); a broken one is
// ignored and the generic colourspace conversion used instead.
func toSRGB(img *vips.ImageRef) error {
	if img.HasICCProfile() {
		// "srgb" is libvips' built-in profile name; embedded=true uses the
		// image's own profile as input.
		if err := img.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
			_ = img.RemoveICCProfile()
		}
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

// copyMetadata re-attaches the EXIF of the decoded thumbnail to the
// in-memory base image (the TIFF round trip keeps XMP, IPTC and ICC but not
// EXIF). libvips rebuilds the EXIF block from the "exif-ifdN-*" fields when
// saving, so copying those fields is enough. (govips' SetBlob is unusable:
// v2.16.0 passes the slice header instead of the data.) The orientation is
// not copied: the pixels are upright now.
func copyMetadata(from, to *vips.ImageRef) {
	for _, f := range from.ImageFields() {
		if strings.HasPrefix(f, "exif-ifd") && f != "exif-ifd0-Orientation" {
			to.SetString(f, from.GetString(f))
		}
	}
	to.SetInt("orientation", 1)
}

// render derives one variant from the decoded base image.
func render(base *vips.ImageRef, v Variant, p plan) (Output, error) {
	img, err := base.Copy()
	if err != nil {
		return Output{}, err
	}
	defer img.Close()

	if img.Width() != p.rw || img.Height() != p.rh {
		hs := float64(p.rw) / float64(img.Width())
		vs := float64(p.rh) / float64(img.Height())
		if hs == vs {
			err = img.Resize(hs, vips.KernelLanczos3)
		} else {
			err = img.ResizeWithVScale(hs, vs, vips.KernelLanczos3)
		}
		if err != nil {
			return Output{}, err
		}
		if err := exactSize(img, p.rw, p.rh); err != nil {
			return Output{}, err
		}
	}

	bg := v.background()
	if !v.Format.HasAlpha() && img.HasAlpha() {
		if err := img.Flatten(&vips.Color{R: bg[0], G: bg[1], B: bg[2]}); err != nil {
			return Output{}, err
		}
		if img.BandFormat() != vips.BandFormatUchar {
			if err := img.Cast(vips.BandFormatUchar); err != nil {
				return Output{}, err
			}
		}
	}

	switch {
	case p.cw < p.rw || p.ch < p.rh: // cover: crop the centre
		err = img.ExtractArea((p.rw-p.cw)/2, (p.rh-p.ch)/2, p.cw, p.ch)
	case p.cw > p.rw || p.ch > p.rh: // contain: pad around the centre
		left, top := (p.cw-p.rw)/2, (p.ch-p.rh)/2
		if v.Format.HasAlpha() && (img.HasAlpha() || bg[3] < 255) {
			if err = img.AddAlpha(); err == nil {
				err = img.EmbedBackgroundRGBA(left, top, p.cw, p.ch,
					&vips.ColorRGBA{R: bg[0], G: bg[1], B: bg[2], A: bg[3]})
			}
		} else {
			err = img.EmbedBackground(left, top, p.cw, p.ch, &vips.Color{R: bg[0], G: bg[1], B: bg[2]})
		}
	}
	if err != nil {
		return Output{}, err
	}

	data, err := encode(img, v)
	if err != nil {
		return Output{}, err
	}
	return Output{
		Name:        v.Name,
		Format:      v.Format,
		ContentType: v.Format.ContentType(),
		Width:       img.Width(),
		Height:      img.Height(),
		Data:        data,
	}, nil
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

func encode(img *vips.ImageRef, v Variant) ([]byte, error) {
	var (
		data []byte
		err  error
	)
	switch v.Format {
	case FormatJPEG:
		data, _, err = img.ExportJpeg(&vips.JpegExportParams{
			StripMetadata:  v.StripMetadata,
			Quality:        v.quality(),
			OptimizeCoding: true,
			SubsampleMode:  vips.VipsForeignSubsampleAuto,
		})
	case FormatPNG:
		data, _, err = img.ExportPng(&vips.PngExportParams{
			StripMetadata: v.StripMetadata,
			Compression:   6,
			Filter:        vips.PngFilterAll,
		})
	case FormatWebP:
		data, _, err = img.ExportWebp(&vips.WebpExportParams{
			StripMetadata:   v.StripMetadata,
			Quality:         v.quality(),
			ReductionEffort: 4,
		})
		if err == nil && v.StripMetadata {
			data, err = stripWebPMetadata(data)
		}
	default:
		err = fmt.Errorf("%w: output format %q", ErrInvalidVariant, v.Format)
	}
	return data, err
}
