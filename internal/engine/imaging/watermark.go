package imaging

import (
	"fmt"
	"math"
	"runtime"

	"github.com/davidbyttow/govips/v2/vips"
)

// Limits of a watermark image.
const (
	MaxWatermarkSide   = 4096
	MaxWatermarkPixels = 4096 * 4096
)

// WatermarkImage is a decoded watermark, ready to be composited: load it
// once (NewWatermarkImage) and share it between variants and goroutines.
type WatermarkImage struct {
	png           []byte // 8-bit sRGB RGBA, lossless
	width, height int
}

// NewWatermarkImage decodes a watermark from an image file in any accepted
// format (PNG with transparency is the usual choice). It is checked like an
// upload (magic bytes, header limits: at most MaxWatermarkSide pixels a
// side, fail on truncation), oriented, converted to sRGB and given an alpha
// channel. Errors are *Error.
func NewWatermarkImage(data []byte) (*WatermarkImage, error) {
	Startup(Config{})
	stateMu.RLock()
	defer stateMu.RUnlock()
	if stopped {
		return nil, errStopped
	}
	src := memSource(data)
	info, err := probe(src, Limits{MaxPixels: MaxWatermarkPixels, MaxWidth: MaxWatermarkSide, MaxHeight: MaxWatermarkSide}.withDefaults())
	if err != nil {
		return nil, err
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	img, err := thumbnailSource(src, info.Width, info.Height, failOnError, &pin)
	if err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	defer img.Close()
	if err := toSRGB(img, false); err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	if err := addAlpha(img); err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	png, _, err := img.ExportPng(&vips.PngExportParams{StripMetadata: true, Compression: 1, Filter: vips.PngFilterNone})
	if err != nil {
		return nil, newError(ErrCorrupt, "", err)
	}
	return &WatermarkImage{png: png, width: img.Width(), height: img.Height()}, nil
}

// Size returns the watermark's width and height in pixels.
func (w *WatermarkImage) Size() (int, int) { return w.width, w.height }

// prepare returns the watermark image sized for a cw x ch canvas, with
// its opacity applied.
func (w *Watermark) prepare(cw, ch int) (*vips.ImageRef, error) {
	ww, wh := float64(w.Image.width), float64(w.Image.height)
	tw := ww
	if w.RelativeWidth > 0 {
		tw = w.RelativeWidth * float64(cw)
	}
	s := tw / ww
	// Always inside the canvas, minus the margins.
	availW, availH := math.Max(1, float64(cw-2*w.Margin)), math.Max(1, float64(ch-2*w.Margin))
	s = math.Min(s, math.Min(availW/ww, availH/wh))
	t, err := vips.LoadThumbnailFromBuffer(w.Image.png, roundDim(ww*s), roundDim(wh*s), vips.InterestingNone, vips.SizeForce, nil)
	if err != nil {
		return nil, err
	}
	// The variant may be read more than once (FormatAuto, MaxBytes): the
	// read-once thumbnail pipeline must not be part of it.
	img, err := materialise(t, true)
	t.Close()
	if err != nil {
		return nil, err
	}
	if op := w.Opacity; op > 0 && op < 1 {
		if err := img.Linear([]float64{1, 1, 1, op}, []float64{0, 0, 0, 0}); err != nil {
			img.Close()
			return nil, err
		}
		if err := img.Cast(vips.BandFormatUchar); err != nil {
			img.Close()
			return nil, err
		}
	}
	if img.Bands() != 4 {
		img.Close()
		return nil, fmt.Errorf("watermark has %d bands", img.Bands())
	}
	return img, nil
}

// apply composites the prepared watermark wm over f.
func (w *Watermark) apply(f, wm *vips.ImageRef) error {
	pos := w.Position
	if pos == GravityDefault {
		pos = GravitySouthEast
	}
	x := pos.align(f.Width(), wm.Width(), w.Margin, true)
	y := pos.align(f.Height(), wm.Height(), w.Margin, false)
	hadAlpha := f.HasAlpha()
	if err := f.Composite(wm, vips.BlendModeOver, x, y); err != nil {
		return err
	}
	if !hadAlpha && f.HasAlpha() {
		// Over an opaque image the result is opaque: drop the alpha band
		// composite added.
		if err := f.ExtractBand(0, f.Bands()-1); err != nil {
			return err
		}
	}
	return toUchar(f)
}
