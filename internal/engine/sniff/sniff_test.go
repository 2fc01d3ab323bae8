package sniff

import (
	"encoding/binary"
	"testing"
)

// ftyp builds an ISO-BMFF ftyp box with the given major and compatible brands.
func ftyp(major string, compat ...string) []byte {
	n := 16 + 4*len(compat)
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, "ftyp"...)
	b = append(b, major...)
	b = append(b, 0, 0, 0, 0) // minor version
	for _, c := range compat {
		b = append(b, c...)
	}
	return b
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want Format
	}{
		{"empty", nil, Unknown},
		{"one byte", []byte{0xFF}, Unknown},
		{"jpeg jfif", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'}, JPEG},
		{"jpeg exif", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x12, 0x34, 'E', 'x', 'i', 'f'}, JPEG},
		{"jpeg bare SOI only", []byte{0xFF, 0xD8}, Unknown},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), PNG},
		{"png truncated signature", []byte("\x89PNG\r\n"), Unknown},
		{"png wrong line ending", []byte("\x89PNG\n\n\x1a\n"), Unknown},
		{"gif87a", []byte("GIF87a\x01\x00\x01\x00"), GIF},
		{"gif89a", []byte("GIF89a\x01\x00\x01\x00"), GIF},
		{"gif unknown version", []byte("GIF88a\x01\x00"), Unknown},
		{"webp lossy", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), WebP},
		{"webp lossless", []byte("RIFF\x24\x00\x00\x00WEBPVP8L"), WebP},
		{"riff wave", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), Unknown},
		{"riff short", []byte("RIFF\x24\x00\x00\x00WEB"), Unknown},
		{"tiff little endian", []byte("II*\x00\x08\x00\x00\x00"), TIFF},
		{"tiff big endian", []byte("MM\x00*\x00\x00\x00\x08"), TIFF},
		{"bigtiff is not accepted", []byte("II+\x00\x08\x00\x00\x00"), Unknown},
		{"avif major", ftyp("avif", "mif1", "miaf"), AVIF},
		{"avis major", ftyp("avis", "msf1", "miaf"), AVIF},
		{"avif as compatible brand", ftyp("mif1", "avif", "miaf"), AVIF},
		{"heic major", ftyp("heic", "mif1", "heic"), HEIF},
		{"heix major", ftyp("heix", "mif1"), HEIF},
		{"mif1 major", ftyp("mif1", "heic"), HEIF},
		{"msf1 major", ftyp("msf1", "hevc"), HEIF},
		{"heic only as compatible", ftyp("abcd", "heic"), HEIF},
		{"mp4 video", ftyp("isom", "iso2", "avc1", "mp41"), Unknown},
		{"quicktime", ftyp("qt  "), Unknown},
		{"ftyp box too small", append([]byte{0, 0, 0, 8}, "ftypheic"...), Unknown},
		{"brand beyond box size ignored", append(ftyp("isom"), "avif"...), Unknown},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg">`), Unknown},
		{"xml svg", []byte(`<?xml version="1.0"?><svg>`), Unknown},
		{"pdf", []byte("%PDF-1.7\n"), Unknown},
		{"bmp", []byte("BM\x36\x00\x0c\x00\x00\x00\x00\x00"), Unknown},
		{"text", []byte("hello, world"), Unknown},
		{"zeros", make([]byte, 64), Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.head); got != tt.want {
				t.Errorf("Detect(%q) = %q, want %q", tt.head, got, tt.want)
			}
		})
	}
}

func TestDetectUsesOnlyHeaderLen(t *testing.T) {
	// An ftyp box whose only AVIF brand sits past HeaderLen must not be seen.
	b := ftyp("isom", "iso2", "iso3", "iso4", "iso5", "avif")
	if len(b) <= HeaderLen {
		t.Fatalf("test box too short: %d", len(b))
	}
	if got := Detect(b); got != Unknown {
		t.Errorf("Detect with brand past HeaderLen = %q, want unknown", got)
	}
	// The same data, with the brand inside HeaderLen, is detected.
	if got := Detect(ftyp("isom", "avif")); got != AVIF {
		t.Errorf("Detect = %q, want avif", got)
	}
	// Trailing bytes after a complete header never change the result.
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xDB}, make([]byte, 4096)...)
	if got := Detect(jpeg); got != JPEG {
		t.Errorf("Detect(long jpeg) = %q, want jpeg", got)
	}
}

func TestMIME(t *testing.T) {
	tests := map[Format]string{
		JPEG:          "image/jpeg",
		PNG:           "image/png",
		WebP:          "image/webp",
		GIF:           "image/gif",
		TIFF:          "image/tiff",
		HEIF:          "image/heif",
		AVIF:          "image/avif",
		Unknown:       "application/octet-stream",
		Format(""):    "application/octet-stream",
		Format("bmp"): "application/octet-stream",
	}
	for f, want := range tests {
		if got := f.MIME(); got != want {
			t.Errorf("%q.MIME() = %q, want %q", f, got, want)
		}
	}
	if got := Format("").String(); got != "unknown" {
		t.Errorf(`Format("").String() = %q`, got)
	}
}

func FuzzDetect(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE0})
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	f.Add([]byte("GIF89a"))
	f.Add([]byte("II*\x00"))
	f.Add([]byte("MM\x00*"))
	f.Add(ftyp("heic", "mif1"))
	f.Add(ftyp("mif1", "avif"))
	f.Add([]byte{0, 0, 0, 1, 'f', 't', 'y', 'p', 'a', 'v', 'i', 'f'})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 'f', 't', 'y', 'p', 'a', 'v', 'i', 'f'})
	f.Add([]byte("<svg/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := string(data)
		got := Detect(data)
		switch got {
		case Unknown, JPEG, PNG, WebP, GIF, TIFF, HEIF, AVIF:
		default:
			t.Fatalf("Detect returned unexpected format %q", got)
		}
		// Stable: same input, same answer; and only the first HeaderLen bytes matter.
		if again := Detect(data); again != got {
			t.Fatalf("Detect not stable: %q then %q", got, again)
		}
		if len(data) > HeaderLen {
			if head := Detect(data[:HeaderLen]); head != got {
				t.Fatalf("Detect(data) = %q but Detect(data[:HeaderLen]) = %q", got, head)
			}
			extended := append(append([]byte(nil), data[:HeaderLen]...), 0xAA, 0x55)
			if ext := Detect(extended); ext != got {
				t.Fatalf("bytes past HeaderLen changed the result: %q vs %q", got, ext)
			}
		}
		if got.MIME() == "" {
			t.Fatalf("empty MIME for %q", got)
		}
		if string(data) != orig {
			t.Fatal("Detect modified its input")
		}
	})
}
