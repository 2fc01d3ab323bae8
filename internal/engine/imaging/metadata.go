package imaging

import (
	"bytes"
	"strings"

	"github.com/davidbyttow/govips/v2/vips"
)

// keptAlways are image fields an encoder needs whatever the metadata policy
// (animation timing and layout).
var keptAlways = []string{"delay", "loop", "gif-loop", "page-height", "n-pages", "orientation"}

// prepareMetadata removes from img every metadata field v does not keep and
// reports whether the encoder can simply strip everything.
//
//   - StripMetadata without KeepCopyright or KeepICC: strip everything.
//   - StripMetadata with KeepCopyright: the EXIF Copyright and Artist tags;
//     with KeepICC: the ICC profile.
//   - not StripMetadata: everything except GPS: the EXIF GPS IFD is
//     removed, and an XMP packet that mentions GPS is dropped whole (govips
//     cannot write a rewritten packet back).
//
// EXIF is written by libvips from the remaining "exif-ifdN-*" fields (the
// raw "exif-data" block, which would still hold GPS, is always removed).
func prepareMetadata(img *vips.ImageRef, v Variant) (strip bool, err error) {
	if !v.metaWanted() {
		return true, nil
	}
	keepAll := !v.StripMetadata
	keep := append([]string(nil), keptAlways...)
	for _, f := range img.ImageFields() {
		switch {
		case f == "exif-data", strings.HasPrefix(f, "exif-ifd3-"): // GPS IFD
		case f == "exif-ifd0-Orientation": // the pixels are upright
		case strings.HasPrefix(f, "exif-ifd"):
			if keepAll || v.KeepCopyright && (f == "exif-ifd0-Copyright" || f == "exif-ifd0-Artist") {
				keep = append(keep, f)
			}
		case f == "xmp-data":
			if keepAll && !bytes.Contains(img.GetBlob(f), []byte("GPS")) {
				keep = append(keep, f)
			}
		case f == "iptc-data":
			if keepAll {
				keep = append(keep, f)
			}
		}
	}
	// RemoveMetadata also always keeps the ICC profile, orientation, n-pages
	// and page-height.
	if err := img.RemoveMetadata(keep...); err != nil {
		return false, err
	}
	if !keepAll && !v.KeepICC && img.HasICCProfile() {
		if err := img.RemoveICCProfile(); err != nil {
			return false, err
		}
	}
	return false, nil
}
