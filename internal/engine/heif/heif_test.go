package heif_test

import (
	"testing"
	"unsafe"

	"github.com/imagepipe/imagepipe/internal/engine/heif"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

func TestProbeAndDecode(t *testing.T) {
	src := imagetest.Fixture(t, "adobergb.heic") // 300x200 HEVC, Adobe RGB profile (564 bytes)
	info, err := heif.Probe(src)
	if err != nil || info != (heif.Info{Width: 300, Height: 200, ICC: true}) {
		t.Fatalf("Probe = %+v, %v", info, err)
	}
	im, err := heif.Decode(src, 300, 200)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if im.Width != 300 || im.Height != 200 || im.Bands != 3 || im.Stride < 900 || im.Pix == nil || len(im.ICC) != 564 {
		t.Fatalf("Decode = %dx%dx%d stride %d, ICC %d bytes", im.Width, im.Height, im.Bands, im.Stride, len(im.ICC))
	}
	// The photo is not blank: the first row varies.
	row := unsafe.Slice((*byte)(im.Pix), 900)
	lo, hi := row[0], row[0]
	for _, b := range row {
		lo, hi = min(lo, b), max(hi, b)
	}
	if hi-lo < 40 {
		t.Errorf("first row spans %d..%d: not the photograph", lo, hi)
	}

	for _, c := range []struct {
		name string
		src  []byte
		w, h int
	}{
		{"size other than the header's", src, 300, 199},
		{"truncated", src[:len(src)/2], 300, 200},
		{"header only", src[:64], 300, 200},
		{"empty", nil, 300, 200},
	} {
		if im, err := heif.Decode(c.src, c.w, c.h); err == nil {
			im.Close()
			t.Errorf("%s: Decode succeeded", c.name)
		}
	}
	if _, err := heif.Probe(src[:64]); err == nil {
		t.Error("Probe of a truncated header succeeded")
	}
}
