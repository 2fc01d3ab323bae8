package imaging_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// rawMean is the mean colour of an image's stored pixels, with no colour
// management at all (what a viewer that ignores profiles shows).
func rawMean(t *testing.T, data []byte) [3]float64 {
	t.Helper()
	img, err := vips.NewImageFromBuffer(data)
	if err != nil {
		t.Fatal(short(err))
	}
	defer img.Close()
	if err := img.RemoveICCProfile(); err != nil {
		t.Fatal(short(err))
	}
	b, _, err := img.ExportPng(&vips.PngExportParams{StripMetadata: true, Compression: 1})
	if err != nil {
		t.Fatal(short(err))
	}
	return imagetest.MeanColour(t, b)
}

// TestColourInputs: CMYK, Adobe RGB, 16-bit and greyscale originals come out
// as 8-bit sRGB with the colours libvips' own colour management gives, and
// the same picture.
func TestColourInputs(t *testing.T) {
	coffee := imagetest.Fixture(t, photoPNG)
	coffeeRef := imagetest.PHash(t, reference(t, coffee, 150, 150, vips.InterestingNone, vips.SizeBoth))
	cases := []struct {
		fixture string
		w, h    int
		grey    bool
	}{
		{"cmyk.jpg", 150, 100, false},
		{"adobergb.jpg", 150, 100, false},
		{"rgb16.png", 150, 100, false},
		{"grey.jpg", 90, 150, true},
	}
	for _, c := range cases {
		src := imagetest.Fixture(t, c.fixture)
		want := imagetest.MeanColour(t, src) // through the embedded profile
		for _, f := range []imaging.Format{imaging.FormatJPEG, imaging.FormatPNG, imaging.FormatWebP, imaging.FormatAVIF} {
			t.Run(c.fixture+"/"+string(f), func(t *testing.T) {
				out := processOne(t, src, imaging.Variant{Width: 150, Height: 150, Fit: imaging.FitInside, Format: f, StripMetadata: true})
				info := checkOutput(t, out, f, c.w, c.h)
				if info.Bands != 3 || info.HasICC {
					t.Errorf("%d bands, ICC %v: want 8-bit sRGB, 3 bands, untagged", info.Bands, info.HasICC)
				}
				got := imagetest.MeanColour(t, out.Data)
				if d := imagetest.ColourDistance(got, want); d > 5 {
					t.Errorf("mean colour %v, source through its profile %v: distance %.1f", got, want, d)
				}
				if c.grey {
					if got[0] != got[1] && imagetest.ColourDistance(got, [3]float64{got[1], got[1], got[1]}) > 2 {
						t.Errorf("grey source came out coloured: %v", got)
					}
					return
				}
				if d := imagetest.Distance(imagetest.PHash(t, out.Data), coffeeRef); d > maxSame {
					t.Errorf("pHash distance to the coffee photo = %d", d)
				}
			})
		}
	}

	// Control: the Adobe RGB fixture's stored values are clearly different
	// from what its profile says, so the check above would catch a pipeline
	// that ignored the profile.
	a98 := imagetest.Fixture(t, "adobergb.jpg")
	if d := imagetest.ColourDistance(rawMean(t, a98), imagetest.MeanColour(t, a98)); d < 8 {
		t.Errorf("Adobe RGB fixture: raw and managed colours only %.1f apart; the test cannot see a missing conversion", d)
	}
}

func TestAlphaOntoBackground(t *testing.T) {
	src := imagetest.Fixture(t, alphaPNG) // transparent corners
	for _, c := range []struct {
		bg   [4]uint8
		want []float64
	}{
		{[4]uint8{}, []float64{255, 255, 255}}, // default white
		{[4]uint8{0, 0, 255, 255}, []float64{0, 0, 255}},
		{[4]uint8{20, 200, 20, 255}, []float64{20, 200, 20}},
	} {
		out := processOne(t, src, imaging.Variant{Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatJPEG, Background: c.bg, StripMetadata: true})
		info := checkOutput(t, out, imaging.FormatJPEG, 300, 200)
		if info.HasAlpha || info.Bands != 3 {
			t.Errorf("JPEG has %d bands", info.Bands)
		}
		if p := imagetest.Pixel(t, out.Data, 1, 1); !near(p, c.want...) {
			t.Errorf("background %v: transparent corner = %v, want %v", c.bg, p, c.want)
		}
	}
	// Formats with alpha keep it (GIF as 1-bit transparency).
	for _, f := range []imaging.Format{imaging.FormatPNG, imaging.FormatWebP, imaging.FormatAVIF, imaging.FormatGIF} {
		out := processOne(t, src, imaging.Variant{Width: 300, Height: 300, Fit: imaging.FitInside, Format: f, StripMetadata: true})
		if info := checkOutput(t, out, f, 300, 200); !info.HasAlpha {
			t.Errorf("%s lost the alpha channel", f)
		}
		if p := imagetest.Pixel(t, out.Data, 1, 1); p[len(p)-1] > 5 {
			t.Errorf("%s: corner alpha %v, want transparent", f, p[len(p)-1])
		}
		if p := imagetest.Pixel(t, out.Data, 150, 100); p[len(p)-1] < 250 {
			t.Errorf("%s: centre alpha %v, want opaque", f, p[len(p)-1])
		}
	}
}

// TestMetadataPolicy: GPS never survives; strip keeps nothing, or only the
// copyright tags, or only the ICC profile; keeping keeps everything else.
func TestMetadataPolicy(t *testing.T) {
	src := imagetest.Fixture(t, "adobergb.jpg") // EXIF with GPS, XMP with GPS, IPTC, Adobe RGB profile
	profile := imagetest.ICC(t, src)
	formats := []imaging.Format{imaging.FormatJPEG, imaging.FormatPNG, imaging.FormatWebP, imaging.FormatAVIF}
	for _, f := range formats {
		base := imaging.Variant{Width: 200, Height: 200, Fit: imaging.FitInside, Format: f}
		t.Run(string(f), func(t *testing.T) {
			v := base
			v.Name, v.StripMetadata = "strip", true
			strip := v
			v.Name, v.KeepCopyright = "copyright", f != imaging.FormatPNG // PNG: no EXIF, see Variant.StripMetadata
			copyright := v
			v = base
			v.Name, v.StripMetadata, v.KeepICC = "icc", true, true
			icc := v
			v = base
			v.Name = "keep"
			keep := v
			res := process(t, src, strip, copyright, icc, keep)
			// libvips writes PNG EXIF (from the kept fields) from 8.15 on.
			pngEXIF := f != imaging.FormatPNG || vips.MajorVersion > 8 || vips.MinorVersion >= 15

			for _, out := range res.Variants {
				info := checkOutput(t, out, f, 200, 133)
				if info.HasGPS || imagetest.EXIFField(t, out.Data, "exif-ifd3-GPSLatitude") != "" ||
					strings.Contains(imagetest.XMP(t, out.Data), "GPS") || bytes.Contains(out.Data, []byte("GPSLatitude")) {
					t.Errorf("%s: a GPS position survived", out.Name)
				}
				if m := imagetest.EXIFField(t, out.Data, "exif-ifd0-Model"); (out.Name == "keep" && pngEXIF) != strings.Contains(m, "FixtureCam") {
					t.Errorf("%s: camera model %q", out.Name, m)
				}
			}
			if info := imagetest.Decode(t, res.Variants[0].Data); info.HasMetadata() || info.HasICC {
				t.Errorf("strip: metadata left: %+v", info)
			}

			// Copyright alone never reaches PNG EXIF (libvips 8.18 writes
			// only a fresh block without it); the spec refuses keep_copyright
			// for PNG.
			c := res.Variants[1].Data
			copyrightEXIF := f != imaging.FormatPNG
			if cr := imagetest.EXIFField(t, c, "exif-ifd0-Copyright"); copyrightEXIF != strings.Contains(cr, "CC0 1.0 Universal") {
				t.Errorf("keep copyright: Copyright = %q", cr)
			}
			if a := imagetest.EXIFField(t, c, "exif-ifd0-Artist"); copyrightEXIF != strings.Contains(a, "Clemens Engelhardt") {
				t.Errorf("keep copyright: Artist = %q", a)
			}
			if info := imagetest.Decode(t, c); info.HasXMP || info.HasIPTC || info.HasICC {
				t.Errorf("keep copyright kept more: %+v", info)
			}

			// keep_icc: the Adobe RGB pixels and profile, not converted.
			i := res.Variants[2].Data
			if got := imagetest.ICC(t, i); !bytes.Equal(got, profile) {
				t.Errorf("keep ICC: profile of %d bytes, want the source's %d", len(got), len(profile))
			}
			if info := imagetest.Decode(t, i); info.HasXMP || info.HasIPTC || info.HasGPS || imagetest.EXIFField(t, i, "exif-ifd0-Copyright") != "" {
				t.Errorf("keep ICC kept metadata: %+v", info)
			}
			if d := imagetest.ColourDistance(rawMean(t, i), rawMean(t, src)); d > 4 {
				t.Errorf("keep ICC: stored values moved %.1f from the source's: converted, not kept", d)
			}
			if d := imagetest.ColourDistance(imagetest.MeanColour(t, i), imagetest.MeanColour(t, src)); d > 4 {
				t.Errorf("keep ICC: displayed colours %.1f off", d)
			}
			// The other variants were converted to sRGB.
			if d := imagetest.ColourDistance(rawMean(t, res.Variants[0].Data), imagetest.MeanColour(t, src)); d > 5 {
				t.Errorf("strip: sRGB values %.1f off the managed source colours", d)
			}

			k := imagetest.Decode(t, res.Variants[3].Data)
			if k.HasEXIF != pngEXIF || !k.HasICC || k.HasXMP {
				// The XMP packet mentions GPS: dropped whole.
				t.Errorf("keep: %+v, want EXIF and ICC, no XMP (it held GPS)", k)
			}
			if f == imaging.FormatJPEG && !k.HasIPTC {
				t.Error("keep: IPTC lost")
			}
		})
	}

	// Without a profile to keep, keep_icc tags sRGB.
	out := processOne(t, imagetest.Fixture(t, landscapeJPEG), imaging.Variant{Width: 100, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true, KeepICC: true})
	if p := imagetest.ICC(t, out.Data); len(p) < 128 || !bytes.Contains(p, []byte("RGB ")) {
		t.Errorf("keep ICC of an untagged source: profile of %d bytes, want an sRGB one", len(p))
	}
	if info := imagetest.Decode(t, out.Data); info.HasMetadata() {
		t.Errorf("keep ICC kept metadata: %+v", info)
	}
}

func TestInputFormatsWithNewOutputs(t *testing.T) {
	// Every output format from every input format (decode paths x encode
	// paths), checked by sniffing the bytes.
	inputs := map[string]sniff.Format{
		landscapeJPEG: sniff.JPEG, photoPNG: sniff.PNG, "anim.gif": sniff.GIF, "anim.webp": sniff.WebP,
	}
	for fx, sf := range inputs {
		src := imagetest.Fixture(t, fx)
		for _, f := range []imaging.Format{imaging.FormatJPEG, imaging.FormatPNG, imaging.FormatWebP, imaging.FormatAVIF, imaging.FormatGIF} {
			t.Run(fmt.Sprintf("%s→%s", fx, f), func(t *testing.T) {
				res := process(t, src, imaging.Variant{Name: "v", Width: 64, Height: 64, Fit: imaging.FitCover, Format: f, StripMetadata: true, Still: f.Animates()})
				if res.Source.Format != sf {
					t.Errorf("source %s, want %s", res.Source.Format, sf)
				}
				checkOutput(t, res.Variants[0], f, 64, 64)
			})
		}
	}
}

// TestMetadataPolicySmallVariants: variants much smaller than the decoded
// image take another path (a shrunk copy); they keep the same metadata and
// colours.
func TestMetadataPolicySmallVariants(t *testing.T) {
	src := imagetest.Fixture(t, "adobergb.jpg") // 300x200
	profile := imagetest.ICC(t, src)
	res := process(t, src,
		imaging.Variant{Name: "big", Width: 300, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true}, // decodes at full size
		imaging.Variant{Name: "icc", Width: 60, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true, KeepICC: true},
		imaging.Variant{Name: "keep", Width: 60, Fit: imaging.FitInside, Format: imaging.FormatJPEG},
		imaging.Variant{Name: "srgb", Width: 60, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true},
	)
	want := imagetest.MeanColour(t, src)
	icc, keep, srgb := res.Variants[1].Data, res.Variants[2].Data, res.Variants[3].Data
	if !bytes.Equal(imagetest.ICC(t, icc), profile) {
		t.Error("small keep-ICC variant lost the Adobe RGB profile")
	}
	for name, b := range map[string][]byte{"icc": icc, "keep": keep, "srgb": srgb} {
		if d := imagetest.ColourDistance(imagetest.MeanColour(t, b), want); d > 5 {
			t.Errorf("%s: displayed colours %.1f off", name, d)
		}
	}
	if d := imagetest.ColourDistance(rawMean(t, srgb), want); d > 5 {
		t.Errorf("srgb: stored values %.1f off the managed colours: not converted", d)
	}
	k := imagetest.Decode(t, keep)
	if !k.HasEXIF || !k.HasIPTC || !k.HasICC || k.HasGPS || !strings.Contains(imagetest.EXIFField(t, keep, "exif-ifd0-Model"), "FixtureCam") {
		t.Errorf("small keep variant: %+v", k)
	}
}
