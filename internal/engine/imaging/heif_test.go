package imaging_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// HEIC (HEVC) goes through libheif (heif.go) whatever libvips is linked:
// the fixture holds the Adobe RGB pixels of adobergb.jpg, so both must come
// out as the same picture in the same sRGB colours.
func TestHEIC(t *testing.T) {
	heic := imagetest.Fixture(t, "adobergb.heic")
	jpeg := imagetest.Fixture(t, "adobergb.jpg")
	if f := sniff.Detect(heic); f != sniff.HEIF {
		t.Fatalf("fixture sniffs as %s", f)
	}
	info, err := imaging.Probe(heic, imaging.Limits{})
	if err != nil || info.Format != sniff.HEIF || info.Width != 300 || info.Height != 200 || info.HasAlpha {
		t.Fatalf("Probe = %+v, %v", info, err)
	}

	variants := []imaging.Variant{
		{Name: "jpg", Width: 150, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true},
		{Name: "thumb", Width: 48, Height: 48, Fit: imaging.FitCover, Format: imaging.FormatPNG, StripMetadata: true},
		{Name: "icc", Width: 150, Fit: imaging.FitInside, Format: imaging.FormatWebP, StripMetadata: true, KeepICC: true},
	}
	got := process(t, heic, variants...)
	want := process(t, jpeg, variants...)
	for i, out := range got.Variants {
		w, h := 150, 100
		if out.Name == "thumb" {
			w, h = 48, 48
		}
		checkOutput(t, out, variants[i].Format, w, h)
		if d := imagetest.Distance(imagetest.PHash(t, out.Data), imagetest.PHash(t, want.Variants[i].Data)); d > maxSame {
			t.Errorf("%s: pHash distance to the JPEG's variant = %d", out.Name, d)
		}
		if d := imagetest.ColourDistance(imagetest.MeanColour(t, out.Data), imagetest.MeanColour(t, want.Variants[i].Data)); d > 4 {
			t.Errorf("%s: colours %.1f off the JPEG's variant (profile not applied?)", out.Name, d)
		}
	}
	// keep_icc keeps the Adobe RGB profile, as for the JPEG.
	if a, b := imagetest.ICC(t, got.Variants[2].Data), imagetest.ICC(t, want.Variants[2].Data); len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("keep ICC: profile of %d bytes, the JPEG's variant has %d", len(a), len(b))
	}
	if got.Extras.BlurHash == "" || imagetest.Distance(got.Extras.PHash, want.Extras.PHash) > maxSame {
		t.Errorf("extras = %+v, the JPEG's %+v", got.Extras, want.Extras)
	}

	// Truncated HEIC files are refused as corrupt, never crash. (Damage
	// inside the HEVC stream is concealed by the decoder, as in libvips'
	// own HEIF loader: libheif 1.15 has no strict mode.)
	for name, src := range map[string][]byte{
		"truncated":   heic[:len(heic)/2],
		"header only": heic[:64],
		"no payload":  heic[:len(heic)-8000],
	} {
		_, err := imaging.Process(context.Background(), src, variants[:1], imaging.Limits{})
		var ie *imaging.Error
		if !errors.As(err, &ie) || ie.Code != imaging.CodeCorrupt {
			t.Errorf("%s: Process error = %v, want %s", name, err, imaging.CodeCorrupt)
		}
	}
}
