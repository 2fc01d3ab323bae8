package imaging

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
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

// imageChunk returns the VP8/VP8L chunk of a WebP written by libvips.
func imageChunk(t *testing.T, img *vips.ImageRef, lossless bool) []byte {
	t.Helper()
	data, _, err := img.ExportWebp(&vips.WebpExportParams{Quality: 80, Lossless: lossless, StripMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 12; i+8 <= len(data); {
		size := int(binary.LittleEndian.Uint32(data[i+4:]))
		if f := string(data[i : i+4]); f == "VP8 " || f == "VP8L" {
			return data[i : i+8+size+size%2]
		}
		i += 8 + size + size%2
	}
	t.Fatal("no image chunk")
	return nil
}

func TestRewriteWebPAddsICCToSimpleWebP(t *testing.T) {
	Startup(Config{})
	src, err := vips.Black(40, 30)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.BandJoinConst([]float64{0, 0, 128}); err != nil { // RGBA, half transparent
		t.Fatal(err)
	}
	if err := src.Cast(vips.BandFormatUchar); err != nil {
		t.Fatal(err)
	}
	rgba, err := src.CopyChangingInterpretation(vips.InterpretationSRGB)
	if err != nil {
		t.Fatal(err)
	}
	defer rgba.Close()
	icc := bytes.Repeat([]byte("icc!"), 33) // odd-sized payloads are padded
	icc = append(icc, 'x')
	for _, c := range []struct {
		name     string
		lossless bool
		alpha    bool
	}{{"lossy", false, false}, {"lossless with alpha", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			img := rgba
			if !c.alpha {
				rgb, err := rgba.Copy()
				if err != nil {
					t.Fatal(err)
				}
				defer rgb.Close()
				if err := rgb.ExtractBand(0, 3); err != nil {
					t.Fatal(err)
				}
				img = rgb
			}
			simple := riff(imageChunk(t, img, c.lossless))
			out, err := rewriteWebP(simple, false, false, icc, 40, 30)
			if err != nil {
				t.Fatal(err)
			}
			if string(out[12:16]) != "VP8X" || string(out[30:34]) != "ICCP" {
				t.Fatalf("layout %q…", out[12:40])
			}
			if flags := out[20]; flags&webpICCFlag == 0 || (flags&webpAlphaFlag != 0) != c.alpha {
				t.Errorf("VP8X flags %#x (alpha %v)", flags, c.alpha)
			}
			back, err := vips.NewImageFromBuffer(out)
			if err != nil {
				t.Fatalf("libvips cannot read the rewritten WebP: %v", err)
			}
			defer back.Close()
			if back.Width() != 40 || back.Height() != 30 || !bytes.Equal(back.GetICCProfile(), icc) {
				t.Errorf("read back %dx%d, ICC %d bytes", back.Width(), back.Height(), len(back.GetICCProfile()))
			}
		})
	}
	if _, err := rewriteWebP(riff(chunk("VP8X", make([]byte, 4))), false, false, icc, 1, 1); err == nil {
		t.Error("added a profile to a WebP without an image chunk")
	}
}
