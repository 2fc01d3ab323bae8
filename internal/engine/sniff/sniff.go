// Package sniff identifies image container formats from their magic bytes.
//
// Detection never trusts file names or client-supplied content types, and it
// needs at most the first HeaderLen bytes of the data.
package sniff

import (
	"bytes"
	"encoding/binary"
)

// HeaderLen is the number of leading bytes Detect looks at. Passing more is
// allowed; bytes past HeaderLen are ignored.
const HeaderLen = 32

// Format is an image container format identified by its magic bytes.
type Format string

// Known formats. Unknown is returned for anything that is not recognised,
// including formats that are deliberately not supported (SVG, PDF, BMP, …).
const (
	Unknown Format = "unknown"
	JPEG    Format = "jpeg"
	PNG     Format = "png"
	WebP    Format = "webp"
	GIF     Format = "gif"
	TIFF    Format = "tiff"
	HEIF    Format = "heif"
	AVIF    Format = "avif"
)

// MIME returns the media type of the format; application/octet-stream for
// Unknown and any unrecognised value.
func (f Format) MIME() string {
	switch f {
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case WebP:
		return "image/webp"
	case GIF:
		return "image/gif"
	case TIFF:
		return "image/tiff"
	case HEIF:
		return "image/heif"
	case AVIF:
		return "image/avif"
	default:
		return "application/octet-stream"
	}
}

// String returns the format's short lower-case name.
func (f Format) String() string {
	if f == "" {
		return string(Unknown)
	}
	return string(f)
}

var (
	magicJPEG   = []byte{0xFF, 0xD8, 0xFF}
	magicPNG    = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
	magicGIF87  = []byte("GIF87a")
	magicGIF89  = []byte("GIF89a")
	magicTIFFLE = []byte{'I', 'I', 0x2A, 0x00}
	magicTIFFBE = []byte{'M', 'M', 0x00, 0x2A}
)

// Detect identifies the format of an image from its first bytes. It looks at
// no more than HeaderLen bytes, never panics and returns Unknown when the data
// is too short or not recognised.
func Detect(head []byte) Format {
	if len(head) > HeaderLen {
		head = head[:HeaderLen]
	}
	switch {
	case bytes.HasPrefix(head, magicJPEG):
		return JPEG
	case bytes.HasPrefix(head, magicPNG):
		return PNG
	case bytes.HasPrefix(head, magicGIF87), bytes.HasPrefix(head, magicGIF89):
		return GIF
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return WebP
	case bytes.HasPrefix(head, magicTIFFLE), bytes.HasPrefix(head, magicTIFFBE):
		return TIFF
	}
	return detectISOBMFF(head)
}

// detectISOBMFF recognises HEIF and AVIF by the brands of the leading ISO base
// media file format "ftyp" box: the major brand at offset 8 and the compatible
// brands from offset 16 to the end of the box (as far as head reaches).
// AVIF brands win over HEIF brands because AVIF files commonly carry "mif1"
// as well.
func detectISOBMFF(head []byte) Format {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return Unknown
	}
	boxLen := int(binary.BigEndian.Uint32(head[0:4]))
	// A box must at least hold size, type and major brand; size 0 ("to end of
	// file") and 1 (64-bit size) are not valid for ftyp in practice, but
	// treat them as "extends past head" rather than rejecting outright.
	if boxLen != 0 && boxLen != 1 && boxLen < 12 {
		return Unknown
	}
	end := len(head)
	if boxLen >= 12 && boxLen < end {
		end = boxLen
	}
	brands := [][]byte{head[8:12]}
	for off := 16; off+4 <= end; off += 4 {
		brands = append(brands, head[off:off+4])
	}
	heif := false
	for _, b := range brands {
		switch string(b) {
		case "avif", "avis":
			return AVIF
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			heif = true
		}
	}
	if heif {
		return HEIF
	}
	return Unknown
}
