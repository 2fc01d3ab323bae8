package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// When a variant keeps metadata but no EXIF field (KeepICC alone), the
// encoder is still told not to strip, and libvips then writes an EXIF block
// of its own (resolution, orientation) into JPEG, and from 8.15 into PNG too.
// govips cannot pass libvips 8.15's "keep" flags, so the block is cut from
// the encoded file here, as rewriteWebP does for WebP.

// dropEXIF removes the EXIF container from a JPEG or PNG file (other
// formats are returned unchanged).
func dropEXIF(data []byte, f Format) ([]byte, error) {
	switch f {
	case FormatJPEG:
		return dropJPEGEXIF(data)
	case FormatPNG:
		return dropPNGChunk(data, "eXIf")
	}
	return data, nil
}

var (
	pngSignature = []byte("\x89PNG\r\n\x1a\n")
	exifHeader   = []byte("Exif\x00\x00")
)

// dropPNGChunk removes every chunk of the given type. Chunks carry their own
// CRC, so the others stay valid.
func dropPNGChunk(data []byte, typ string) ([]byte, error) {
	if !bytes.HasPrefix(data, pngSignature) {
		return nil, errors.New("not a PNG file")
	}
	out := append(make([]byte, 0, len(data)), pngSignature...)
	for p := len(pngSignature); p < len(data); {
		if p+12 > len(data) {
			return nil, errors.New("PNG: truncated chunk")
		}
		n := int(binary.BigEndian.Uint32(data[p:]))
		end := p + 12 + n
		if n < 0 || end > len(data) || end < p {
			return nil, errors.New("PNG: chunk overruns the file")
		}
		if string(data[p+4:p+8]) != typ {
			out = append(out, data[p:end]...)
		}
		p = end
	}
	return out, nil
}

// dropJPEGEXIF removes the APP1 "Exif" segments before the scan.
func dropJPEGEXIF(data []byte) ([]byte, error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, errors.New("not a JPEG file")
	}
	out := append(make([]byte, 0, len(data)), data[:2]...)
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			return nil, errors.New("JPEG: bad marker")
		}
		m := data[p+1]
		if m == 0xDA || m == 0xD9 { // start of scan: the rest is image data
			break
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		end := p + 2 + n
		if n < 2 || end > len(data) {
			return nil, errors.New("JPEG: segment overruns the file")
		}
		if !(m == 0xE1 && bytes.HasPrefix(data[p+4:end], exifHeader)) {
			out = append(out, data[p:end]...)
		}
		p = end
	}
	return append(out, data[p:]...), nil
}
