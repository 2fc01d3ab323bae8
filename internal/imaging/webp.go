package imaging

import (
	"encoding/binary"
	"errors"
)

// stripWebPMetadata removes the EXIF, XMP and ICCP chunks from a WebP file
// and clears the matching VP8X flags.
//
// libvips 8.14's webpsave ignores "strip": it always writes the image's
// EXIF (rebuilt from scratch if the image had none) and XMP. So stripped
// WebP output is cleaned here, at the container level, which cannot touch
// the pixels.
func stripWebPMetadata(data []byte) ([]byte, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return nil, errors.New("not a WebP file")
	}
	riffEnd := 8 + int(binary.LittleEndian.Uint32(data[4:8]))
	if riffEnd > len(data) || riffEnd < 12 {
		return nil, errors.New("bad RIFF size")
	}
	out := make([]byte, 12, len(data))
	copy(out, data[:12])
	vp8x := -1
	for i := 12; i < riffEnd; {
		if i+8 > riffEnd {
			return nil, errors.New("truncated chunk header")
		}
		fourcc := string(data[i : i+4])
		size := int(binary.LittleEndian.Uint32(data[i+4 : i+8]))
		end := i + 8 + size + size%2 // chunks are padded to even sizes
		if size < 0 || end > riffEnd {
			return nil, errors.New("truncated chunk")
		}
		switch fourcc {
		case "EXIF", "XMP ", "ICCP":
			// dropped
		default:
			if fourcc == "VP8X" && size >= 10 {
				vp8x = len(out)
			}
			out = append(out, data[i:end]...)
		}
		i = end
	}
	if vp8x >= 0 {
		const iccFlag, exifFlag, xmpFlag = 0x20, 0x08, 0x04
		out[vp8x+8] &^= iccFlag | exifFlag | xmpFlag
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out, nil
}
