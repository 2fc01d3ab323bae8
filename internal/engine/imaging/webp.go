package imaging

import (
	"encoding/binary"
	"errors"

	"github.com/davidbyttow/govips/v2/vips"
)

// VP8X flags.
const (
	webpICCFlag   = 0x20
	webpAlphaFlag = 0x10
	webpEXIFFlag  = 0x08
	webpXMPFlag   = 0x04
)

// fixWebPMetadata makes a WebP written by libvips carry exactly the metadata
// v keeps. libvips 8.14's webpsave ignores "strip" (it always writes the
// image's EXIF, rebuilt from scratch if the image had none, and its XMP),
// and govips makes it never write the ICC profile. So the container is
// rewritten here, which cannot touch the pixels.
func fixWebPMetadata(data []byte, img *vips.ImageRef, v Variant, strip bool) ([]byte, error) {
	if strip {
		return stripWebPMetadata(data)
	}
	var icc []byte
	if (!v.StripMetadata || v.KeepICC) && img.HasICCProfile() {
		icc = img.GetICCProfile()
	}
	h := img.Height()
	if ph := img.PageHeight(); ph > 0 && ph <= h {
		h = ph
	}
	return rewriteWebP(data, !v.StripMetadata || v.KeepCopyright, !v.StripMetadata, icc, img.Width(), h)
}

// stripWebPMetadata removes the EXIF, XMP and ICCP chunks from a WebP file
// and clears the matching VP8X flags.
func stripWebPMetadata(data []byte) ([]byte, error) {
	return rewriteWebP(data, false, false, nil, 0, 0)
}

// rewriteWebP drops the EXIF chunk unless keepEXIF, the XMP chunk unless
// keepXMP, any ICCP chunk, and then inserts icc as the ICCP chunk when it is
// not empty (adding a VP8X header of canvas w x h to a simple WebP). The
// VP8X flags are updated to match.
func rewriteWebP(data []byte, keepEXIF, keepXMP bool, icc []byte, w, h int) ([]byte, error) {
	riffEnd, err := webpRIFFEnd(data)
	if err != nil {
		return nil, err
	}
	out, vp8x, simple, err := copyWebPChunks(data, riffEnd, keepEXIF, keepXMP, icc)
	if err != nil {
		return nil, err
	}
	if len(icc) > 0 && vp8x < 0 {
		// A simple WebP: an ICC profile needs the extended format.
		if out, err = extendWebP(out, simple, icc, w, h); err != nil {
			return nil, err
		}
		vp8x = 12
	}
	if vp8x >= 0 {
		setVP8XFlags(out, vp8x)
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out, nil
}

// webpRIFFEnd checks the RIFF/WEBP header of data and returns the end of
// the RIFF payload.
func webpRIFFEnd(data []byte) (int, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return 0, errors.New("not a WebP file")
	}
	riffEnd := 8 + int(binary.LittleEndian.Uint32(data[4:8]))
	if riffEnd > len(data) || riffEnd < 12 {
		return 0, errors.New("bad RIFF size")
	}
	return riffEnd, nil
}

// copyWebPChunks copies the header and the chunks of data up to riffEnd
// that rewriteWebP keeps, with icc (when not empty) as an ICCP chunk right
// after the VP8X chunk. It returns the offset of the VP8X chunk in out (-1
// if there is none) and, when the first chunk is a VP8 or VP8L image (a
// simple WebP), its header and first 5 bytes.
func copyWebPChunks(data []byte, riffEnd int, keepEXIF, keepXMP bool, icc []byte) (out []byte, vp8x int, simple []byte, err error) {
	out = make([]byte, 12, len(data)+len(icc)+32)
	copy(out, data[:12])
	vp8x = -1
	for i := 12; i < riffEnd; {
		fourcc, size, end, err := webpChunkAt(data, i, riffEnd)
		if err != nil {
			return nil, 0, nil, err
		}
		switch {
		case fourcc == "ICCP", fourcc == "EXIF" && !keepEXIF, fourcc == "XMP " && !keepXMP:
			// dropped
		default:
			if fourcc == "VP8X" && size >= 10 {
				vp8x = len(out)
			}
			if i == 12 && (fourcc == "VP8 " || fourcc == "VP8L") {
				simple = data[i : i+8+min(size, 5)]
			}
			out = append(out, data[i:end]...)
			if len(icc) > 0 && fourcc == "VP8X" && vp8x >= 0 {
				out = appendChunk(out, "ICCP", icc)
			}
		}
		i = end
	}
	return out, vp8x, simple, nil
}

// webpChunkAt reads the header of the chunk at data[i:], which must end by
// riffEnd, and returns its fourcc, its payload size and where it ends
// (chunks are padded to even sizes).
func webpChunkAt(data []byte, i, riffEnd int) (fourcc string, size, end int, err error) {
	if i+8 > riffEnd {
		return "", 0, 0, errors.New("truncated chunk header")
	}
	fourcc = string(data[i : i+4])
	size = int(binary.LittleEndian.Uint32(data[i+4 : i+8]))
	end = i + 8 + size + size%2
	if size < 0 || end > riffEnd || end < i {
		return "", 0, 0, errors.New("truncated chunk")
	}
	return fourcc, size, end, nil
}

// extendWebP turns out, a simple WebP whose image chunk starts with simple,
// into an extended one: a VP8X header for a canvas of w x h, then icc as
// the ICCP chunk, then the image.
func extendWebP(out, simple, icc []byte, w, h int) ([]byte, error) {
	if simple == nil || w < 1 || h < 1 || w > 1<<24 || h > 1<<24 {
		return nil, errors.New("cannot add an ICC profile to this WebP")
	}
	hdr := make([]byte, 10)
	if string(simple[:4]) == "VP8L" && len(simple) >= 13 && simple[12]&0x10 != 0 {
		hdr[0] |= webpAlphaFlag // VP8L header: alpha_is_used bit
	}
	putUint24(hdr[4:], uint32(w-1))
	putUint24(hdr[7:], uint32(h-1))
	ext := appendChunk(append([]byte(nil), out[:12]...), "VP8X", hdr)
	ext = appendChunk(ext, "ICCP", icc)
	return append(ext, out[12:]...), nil
}

// setVP8XFlags sets the ICC, EXIF and XMP flags of the VP8X chunk at
// out[vp8x:] to match the chunks out holds.
func setVP8XFlags(out []byte, vp8x int) {
	flags := out[vp8x+8] &^ (webpICCFlag | webpEXIFFlag | webpXMPFlag)
	for i := 12; i+8 <= len(out); {
		size := int(binary.LittleEndian.Uint32(out[i+4 : i+8]))
		switch string(out[i : i+4]) {
		case "ICCP":
			flags |= webpICCFlag
		case "EXIF":
			flags |= webpEXIFFlag
		case "XMP ":
			flags |= webpXMPFlag
		}
		i += 8 + size + size%2
	}
	out[vp8x+8] = flags
}

func appendChunk(b []byte, fourcc string, payload []byte) []byte {
	b = append(b, fourcc...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	if len(payload)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func putUint24(b []byte, v uint32) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
