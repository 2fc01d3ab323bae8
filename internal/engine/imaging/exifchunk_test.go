package imaging

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(append(c, typ...), data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

func jpegSegment(marker byte, data []byte) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{0xFF, marker}, uint16(len(data)+2)), data...)
}

func TestDropEXIF(t *testing.T) {
	ihdr, iend := pngChunk("IHDR", make([]byte, 13)), pngChunk("IEND", nil)
	exif, iccp := pngChunk("eXIf", []byte("MM\x00*exif")), pngChunk("iCCP", []byte("icc"))
	png := func(chunks ...[]byte) []byte { return bytes.Join(append([][]byte{pngSignature}, chunks...), nil) }

	app1 := jpegSegment(0xE1, append([]byte("Exif\x00\x00"), "MM\x00*"...))
	xmp := jpegSegment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x/>"))
	app2 := jpegSegment(0xE2, []byte("ICC_PROFILE\x00\x01\x01icc"))
	scan := []byte{0xFF, 0xDA, 0x00, 0x02, 0x12, 0xE1, 0x34, 0xFF, 0xD9} // an 0xE1 byte inside the scan stays
	jpeg := func(segs ...[]byte) []byte {
		return bytes.Join(append(append([][]byte{{0xFF, 0xD8}}, segs...), scan), nil)
	}

	cases := []struct {
		name     string
		f        Format
		in, want []byte
		err      bool
	}{
		{"png with eXIf", FormatPNG, png(ihdr, exif, iccp, iend), png(ihdr, iccp, iend), false},
		{"png without", FormatPNG, png(ihdr, iccp, iend), png(ihdr, iccp, iend), false},
		{"png truncated chunk", FormatPNG, png(ihdr, exif)[:len(png(ihdr, exif))-3], nil, true},
		{"not a png", FormatPNG, []byte("GIF89a"), nil, true},
		{"jpeg with Exif APP1", FormatJPEG, jpeg(app1, xmp, app2), jpeg(xmp, app2), false},
		{"jpeg without", FormatJPEG, jpeg(xmp, app2), jpeg(xmp, app2), false},
		{"jpeg segment overruns", FormatJPEG, jpeg(app1)[:10], nil, true},
		{"webp untouched", FormatWebP, []byte("RIFF"), []byte("RIFF"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := dropEXIF(c.in, c.f)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if !c.err && !bytes.Equal(got, c.want) {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
		})
	}
}
