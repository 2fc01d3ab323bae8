package imaging

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/heif"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
)

// errStopped is returned after Shutdown.
var errStopped = errors.New("imaging: libvips has been shut down")

// failOnError is the loader option for every decode: fail on truncated or
// corrupt data. libvips 8.12+ turns the deprecated "fail" flag into
// fail_on=warning, the strictest level: libjpeg's "premature end of data"
// and friends are errors, not grey pixels.
const failOnError = "fail=true"

// loaderSupported reports whether a sniffed format is on the allowlist and
// libvips has a loader for it.
func loaderSupported(f sniff.Format) bool {
	switch f {
	case sniff.JPEG:
		return vips.IsTypeSupported(vips.ImageTypeJPEG)
	case sniff.PNG:
		return vips.IsTypeSupported(vips.ImageTypePNG)
	case sniff.WebP:
		return vips.IsTypeSupported(vips.ImageTypeWEBP)
	case sniff.GIF:
		return vips.IsTypeSupported(vips.ImageTypeGIF)
	case sniff.TIFF:
		return vips.IsTypeSupported(vips.ImageTypeTIFF)
	case sniff.HEIF:
		return true // libheif, see heif.go
	case sniff.AVIF:
		return vips.IsTypeSupported(vips.ImageTypeAVIF)
	default:
		return false
	}
}

// expectedLoader is the prefix of the "vips-loader" field that a correctly
// dispatched load of each format must report; a mismatch means libvips picked
// another loader than the magic bytes promised.
func expectedLoader(f sniff.Format) string {
	switch f {
	case sniff.JPEG:
		return "jpegload"
	case sniff.PNG:
		return "pngload"
	case sniff.WebP:
		return "webpload"
	case sniff.GIF:
		return "gifload"
	case sniff.TIFF:
		return "tiffload"
	case sniff.HEIF, sniff.AVIF:
		return "heifload"
	default:
		return "\x00"
	}
}

// Probe reads the image header (no pixel decoding) and checks it against the
// limits. On a limit error the returned SourceInfo is still filled in.
func Probe(src []byte, lim Limits) (SourceInfo, error) {
	Startup(Config{})
	stateMu.RLock()
	defer stateMu.RUnlock()
	if stopped {
		return SourceInfo{}, errStopped
	}
	return probe(memSource(src), lim.withDefaults())
}

// probe does the work of Probe; the caller holds stateMu. Of the data it
// reads the ends (sniff, polyglot check) and libvips or libheif the header.
func probe(src *source, lim Limits) (SourceInfo, error) {
	if src.size == 0 {
		return SourceInfo{}, newError(ErrEmpty, "", nil)
	}
	head, err := src.head(pdfWindow)
	if err != nil {
		return SourceInfo{}, err
	}
	f := sniff.Detect(head)
	if !loaderSupported(f) {
		return SourceInfo{}, newError(ErrUnsupportedFormat, "", nil)
	}
	tail, err := src.tail(zipWindow)
	if err != nil {
		return SourceInfo{}, err
	}
	if kind := polyglotEnds(head, tail); kind != "" {
		return SourceInfo{Format: f}, newError(ErrPolyglot,
			fmt.Sprintf("the file is a %s image and also a %s file", f, kind), nil)
	}
	var info SourceInfo
	if f == sniff.HEIF {
		h, err := probeHEIF(src)
		if isInternalHEIF(err) || errors.Is(err, errRead) {
			return SourceInfo{}, err
		}
		if err != nil {
			return SourceInfo{}, newError(ErrCorrupt, "", err)
		}
		info = SourceInfo{Format: f, Width: h.Width, Height: h.Height, Orientation: 1, HasAlpha: h.Alpha, Frames: 1}
	} else {
		var err error
		if info, err = probeVips(src, f); err != nil {
			return info, err
		}
	}
	if info.Orientation < 1 || info.Orientation > 8 {
		info.Orientation = 1
	}
	if info.Orientation >= 5 {
		info.Width, info.Height = info.Height, info.Width
	}
	if info.Width <= 0 || info.Height <= 0 {
		return info, newError(ErrCorrupt, "", fmt.Errorf("header declares %dx%d", info.Width, info.Height))
	}
	if info.Width > lim.MaxWidth || info.Height > lim.MaxHeight {
		return info, newError(ErrTooLargeDimensions,
			fmt.Sprintf("the image is %dx%d pixels; the maximum is %dx%d", info.Width, info.Height, lim.MaxWidth, lim.MaxHeight), nil)
	}
	if px := int64(info.Width) * int64(info.Height); px > lim.MaxPixels {
		return info, newError(ErrTooManyPixels,
			fmt.Sprintf("the image has %d pixels; the maximum is %d", px, lim.MaxPixels), nil)
	}
	if info.Frames > lim.MaxFrames {
		return info, newError(ErrTooManyFrames,
			fmt.Sprintf("the animation has %d frames; the maximum is %d", info.Frames, lim.MaxFrames), nil)
	}
	if px := int64(info.Width) * int64(info.Height) * int64(info.Frames); px > lim.MaxTotalPixels {
		return info, newError(ErrTooManyPixels,
			fmt.Sprintf("the animation has %d pixels in all its frames; the maximum is %d", px, lim.MaxTotalPixels), nil)
	}
	return info, nil
}

// probeHEIF reads the header with libheif, from memory (source.mapped).
func probeHEIF(src *source) (heif.Info, error) {
	data, unmap, err := src.mapped()
	if err != nil {
		return heif.Info{}, err
	}
	defer unmap()
	return heif.Probe(data)
}

// probeVips reads the header with libvips: lazy load, it parses the header
// now and decodes pixels only on demand, which never happens for this image.
func probeVips(src *source, f sniff.Format) (SourceInfo, error) {
	var pin runtime.Pinner
	defer pin.Unpin()
	img, err := loadSource(src, "", &pin)
	if err != nil {
		return SourceInfo{}, newError(ErrCorrupt, "", err)
	}
	defer img.Close()
	if loader := img.GetString("vips-loader"); !hasPrefix(loader, expectedLoader(f)) {
		return SourceInfo{}, newError(ErrUnsupportedFormat, "", fmt.Errorf("magic says %s but libvips chose %q", f, loader))
	}
	info := SourceInfo{
		Format:      f,
		Width:       img.Width(),
		Height:      img.PageHeight(), // first frame of multi-page images
		Orientation: img.Orientation(),
		HasAlpha:    img.HasAlpha(),
		Frames:      1,
		cmyk:        img.Interpretation() == vips.InterpretationCMYK,
	}
	if info.Height <= 0 || info.Height > img.Height() {
		info.Height = img.Height()
	}
	if f == sniff.GIF || f == sniff.WebP {
		// n-pages comes from the header (libnsgif scans the frame headers,
		// libwebp's demuxer counts the ANMF chunks); nothing is decoded.
		info.Frames = max(1, img.Pages())
	}
	return info, nil
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }
