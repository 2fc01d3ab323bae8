package imaging

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func riff(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

func chunk(fourcc string, payload []byte) []byte {
	c := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))...)
	c = append(c, payload...)
	if len(payload)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func TestStripWebPMetadata(t *testing.T) {
	vp8x := make([]byte, 10)
	vp8x[0] = 0x20 | 0x10 | 0x08 | 0x04 // ICC, alpha, EXIF, XMP
	alph := chunk("ALPH", []byte{1, 2, 3})
	vp8 := chunk("VP8 ", bytes.Repeat([]byte{7}, 21))
	in := riff(chunk("VP8X", vp8x), chunk("ICCP", []byte("icc")), alph, vp8,
		chunk("EXIF", []byte("Exif\x00\x00MM\x00*GPS")), chunk("XMP ", []byte("<x:xmpmeta/>")))

	out, err := stripWebPMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	want := riff(chunk("VP8X", append([]byte{0x10}, vp8x[1:]...)), alph, vp8)
	if !bytes.Equal(out, want) {
		t.Fatalf("stripped WebP:\n got %q\nwant %q", out, want)
	}
	for _, bad := range [][]byte{nil, []byte("RIFF"), in[:20], append([]byte("RIFX"), in[4:]...), riff([]byte("VP8 \xff\xff\x00\x00"))} {
		if _, err := stripWebPMetadata(bad); err == nil {
			t.Errorf("no error for malformed input %q", bad)
		}
	}
	// A simple (non-extended) WebP passes through unchanged.
	simple := riff(vp8)
	if out, err := stripWebPMetadata(simple); err != nil || !bytes.Equal(out, simple) {
		t.Errorf("simple WebP changed: %v", err)
	}
}
