package imagetest

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/sniff"
)

func TestFixtures(t *testing.T) {
	type m struct{ exif, gps, xmp, iptc, icc bool }
	cases := []struct {
		name               string
		format             sniff.Format
		w, h, bands, pages int
		orientation        int
		meta               m
		alpha              bool
	}{
		{"dandelion.jpg", sniff.JPEG, 1600, 900, 3, 1, 1, m{true, true, true, true, false}, false},
		{"dandelion-orient6.jpg", sniff.JPEG, 900, 1600, 3, 1, 6, m{true, true, true, true, false}, false},
		{"dandelion-portrait.jpg", sniff.JPEG, 600, 1000, 3, 1, 1, m{}, false},
		{"coffee.png", sniff.PNG, 600, 400, 3, 1, 1, m{}, false},
		{"chelsea-alpha.png", sniff.PNG, 451, 300, 4, 1, 1, m{}, true},
		{"orient-1.jpg", sniff.JPEG, 400, 225, 3, 1, 1, m{true, true, true, true, false}, false},
		{"orient-2.jpg", sniff.JPEG, 400, 225, 3, 1, 2, m{true, true, true, true, false}, false},
		{"orient-3.jpg", sniff.JPEG, 400, 225, 3, 1, 3, m{true, true, true, true, false}, false},
		{"orient-4.jpg", sniff.JPEG, 400, 225, 3, 1, 4, m{true, true, true, true, false}, false},
		{"orient-5.jpg", sniff.JPEG, 225, 400, 3, 1, 5, m{true, true, true, true, false}, false},
		{"orient-6.jpg", sniff.JPEG, 225, 400, 3, 1, 6, m{true, true, true, true, false}, false},
		{"orient-7.jpg", sniff.JPEG, 225, 400, 3, 1, 7, m{true, true, true, true, false}, false},
		{"orient-8.jpg", sniff.JPEG, 225, 400, 3, 1, 8, m{true, true, true, true, false}, false},
		{"cmyk.jpg", sniff.JPEG, 300, 200, 4, 1, 1, m{icc: true}, false},
		{"adobergb.jpg", sniff.JPEG, 300, 200, 3, 1, 1, m{true, true, true, true, true}, false},
		{"rgb16.png", sniff.PNG, 300, 200, 3, 1, 1, m{}, false},
		{"grey.jpg", sniff.JPEG, 180, 300, 1, 1, 1, m{}, false},
		{"anim.gif", sniff.GIF, 160, 90, 4, 10, 1, m{}, true},
		{"anim.webp", sniff.WebP, 160, 90, 3, 10, 1, m{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := FixturePath(t, c.name)
			if !strings.HasSuffix(filepath.ToSlash(p), "testdata/photos/"+c.name) {
				t.Errorf("FixturePath = %q", p)
			}
			info := Decode(t, Fixture(t, c.name))
			want := Info{Format: c.format, Width: c.w, Height: c.h, Bands: c.bands, HasAlpha: c.alpha, Orientation: c.orientation,
				Pages: c.pages, PageHeight: c.h,
				HasEXIF: c.meta.exif, HasGPS: c.meta.gps, HasXMP: c.meta.xmp, HasIPTC: c.meta.iptc, HasICC: c.meta.icc}
			if info != want {
				t.Errorf("Decode = %+v\nwant     %+v", info, want)
			}
			if info.HasMetadata() != (c.meta.exif || c.meta.xmp) {
				t.Errorf("HasMetadata = %v", info.HasMetadata())
			}
		})
	}
}

func TestHostileAndPresetFiles(t *testing.T) {
	for _, rel := range []string{"hostile/huge-dimensions.jpg", "hostile/png-bomb.png", "hostile/polyglot.jpg", "hostile/xxe.svg", "presets/presets.json", "presets/logo.png"} {
		b := File(t, rel)
		if len(b) == 0 || len(b) > 100_000 {
			t.Errorf("%s: %d bytes", rel, len(b))
		}
		if p := TestdataPath(t, rel); !strings.HasSuffix(filepath.ToSlash(p), "testdata/"+rel) {
			t.Errorf("TestdataPath(%q) = %q", rel, p)
		}
	}
	// They are what they claim to be.
	if b := File(t, "hostile/huge-dimensions.jpg"); sniff.Detect(b) != sniff.JPEG || !strings.Contains(string(b), "\xfa\xfa\xfa\xfa") {
		t.Error("huge-dimensions.jpg does not declare 64250x64250")
	}
	if b := File(t, "hostile/png-bomb.png"); sniff.Detect(b) != sniff.PNG || binary.BigEndian.Uint32(b[16:]) != 16000 || binary.BigEndian.Uint32(b[20:]) != 16000 {
		t.Error("png-bomb.png does not declare 16000x16000")
	}
	if b := File(t, "hostile/polyglot.jpg"); sniff.Detect(b) != sniff.JPEG || !strings.Contains(string(b), "PK\x05\x06") {
		t.Error("polyglot.jpg is not a JPEG with a ZIP")
	}
	if b := File(t, "hostile/xxe.svg"); !strings.Contains(string(b), "<!ENTITY xxe SYSTEM") {
		t.Error("xxe.svg has no external entity")
	}
}

func TestAnimationAndFrames(t *testing.T) {
	for _, name := range []string{"anim.gif", "anim.webp"} {
		t.Run(name, func(t *testing.T) {
			data := Fixture(t, name)
			n, delays, loop := Animation(t, data)
			if n != 10 || len(delays) != 10 || loop != 3 {
				t.Fatalf("Animation = %d frames, delays %v, loop %d; want 10, 60 ms each, 3", n, delays, loop)
			}
			for _, d := range delays {
				if d != 60 {
					t.Fatalf("delays %v, want 60 ms each", delays)
				}
			}
			first, last := Frame(t, data, 0), Frame(t, data, 9)
			if info := Decode(t, first); info.Width != 160 || info.Height != 90 || info.Format != sniff.PNG {
				t.Errorf("Frame(0) = %+v", info)
			}
			// Consecutive frames overlap by half; the first and last share nothing.
			if d := Distance(PHash(t, first), PHash(t, last)); d < 16 {
				t.Errorf("first and last frames: pHash distance %d, want them far apart", d)
			}
		})
	}
	if n, delays, loop := Animation(t, Fixture(t, "coffee.png")); n != 1 || delays != nil || loop != 0 {
		t.Errorf("Animation(still) = %d %v %d", n, delays, loop)
	}
}

func TestPixelColourICCAndFields(t *testing.T) {
	alpha := Fixture(t, "chelsea-alpha.png")
	if p := Pixel(t, alpha, 0, 0); len(p) != 4 || p[3] != 0 {
		t.Errorf("corner of chelsea-alpha.png = %v, want transparent", p)
	}
	// The Adobe RGB fixture shows the coffee photo's colours once its
	// profile is applied; read raw, they are clearly duller.
	coffee := MeanColour(t, Fixture(t, "coffee.png"))
	a98 := Fixture(t, "adobergb.jpg")
	if d := ColourDistance(MeanColour(t, a98), coffee); d > 4 {
		t.Errorf("Adobe RGB fixture through its profile: %v vs coffee %v (distance %.1f)", MeanColour(t, a98), coffee, d)
	}
	if ICC(t, a98) == nil || ICC(t, Fixture(t, "coffee.png")) != nil {
		t.Error("ICC: wrong presence")
	}
	// CMYK has a smaller gamut: the round trip through the press profile
	// dulls the photo somewhat, but it is still the same colours.
	if d := ColourDistance(MeanColour(t, Fixture(t, "cmyk.jpg")), coffee); d > 20 {
		t.Errorf("CMYK fixture through its profile: %v vs coffee %v (distance %.1f)", MeanColour(t, Fixture(t, "cmyk.jpg")), coffee, d)
	}
	if g := MeanColour(t, Fixture(t, "grey.jpg")); g[0] != g[1] || g[1] != g[2] {
		t.Errorf("grey.jpg mean colour %v is not grey", g)
	}
	if m := EXIFField(t, a98, "exif-ifd0-Copyright"); !strings.Contains(m, "CC0") {
		t.Errorf("EXIFField(Copyright) = %q", m)
	}
	if m := EXIFField(t, a98, "exif-ifd0-Nope"); m != "" {
		t.Errorf("EXIFField(absent) = %q", m)
	}
	if x := XMP(t, a98); !strings.Contains(x, "GPSLatitude") {
		t.Errorf("adobergb.jpg XMP has no GPS: %.200q", x)
	}
	if x := XMP(t, Fixture(t, "coffee.png")); x != "" {
		t.Errorf("XMP(coffee.png) = %q", x)
	}
}

func TestRawEXIFDetection(t *testing.T) {
	jpeg := Fixture(t, "dandelion.jpg")
	tiff := findEXIF(jpeg)
	if tiff == nil || !tiffHasGPS(tiff) {
		t.Fatalf("findEXIF/tiffHasGPS missed the GPS IFD of the fixture")
	}
	if findEXIF(Fixture(t, "coffee.png")) != nil || findEXIF(Fixture(t, "dandelion-portrait.jpg")) != nil {
		t.Errorf("findEXIF found EXIF in a fixture without it")
	}

	// A PNG with an eXIf chunk (the raw TIFF) inserted after IHDR: detected
	// from the bytes even though nothing else is different.
	png := Fixture(t, "coffee.png")
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(tiff)))
	chunk = append(chunk, "eXIf"...)
	chunk = append(chunk, tiff...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	ihdrEnd := 8 + 8 + 13 + 4
	withEXIF := append(append(append([]byte(nil), png[:ihdrEnd]...), chunk...), png[ihdrEnd:]...)
	if info := Decode(t, withEXIF); !info.HasEXIF || !info.HasGPS {
		t.Errorf("PNG with eXIf: %+v, want EXIF and GPS", info)
	}

	// Corrupt TIFF structures never panic.
	for _, b := range [][]byte{nil, []byte("II"), []byte("MM\x00*\xff\xff\xff\xff"), []byte("II*\x00\x08\x00\x00\x00\xff\xff")} {
		_ = tiffHasGPS(b)
	}
	for n := 0; n < len(jpeg) && n < 4096; n += 97 {
		_ = findEXIF(jpeg[:n])
	}
}

func TestWebPEXIFDetection(t *testing.T) {
	img, err := vips.NewImageFromBuffer(Fixture(t, "dandelion.jpg"))
	if err != nil {
		t.Fatal(firstLine(err))
	}
	defer img.Close()
	webp, _, err := img.ExportWebp(vips.NewWebpExportParams()) // keeps metadata
	if err != nil {
		t.Fatal(firstLine(err))
	}
	tiff := findEXIF(webp)
	if tiff == nil || !tiffHasGPS(tiff) {
		t.Fatalf("findEXIF missed the EXIF chunk of a WebP")
	}
	if info := Decode(t, webp); info.Format != sniff.WebP || !info.HasEXIF || !info.HasGPS || !info.HasXMP {
		t.Errorf("Decode(webp) = %+v", info)
	}
}

func TestPHash(t *testing.T) {
	dandelion := Fixture(t, "dandelion.jpg")
	h := PHash(t, dandelion)
	if h2 := PHash(t, dandelion); h2 != h {
		t.Fatalf("PHash not deterministic: %x vs %x", h, h2)
	}
	if h == 0 || h == ^uint64(0) {
		t.Fatalf("degenerate hash %x", h)
	}

	// The same picture re-encoded smaller, as PNG and as low-quality JPEG.
	img, err := vips.NewThumbnailFromBuffer(dandelion, 200, 200, vips.InterestingNone)
	if err != nil {
		t.Fatal(firstLine(err))
	}
	small, _, err := img.ExportPng(vips.NewPngExportParams())
	img.Close()
	if err != nil {
		t.Fatal(firstLine(err))
	}
	// A thumbnail pipeline can be read only once (sequential loader): reload
	// the PNG to derive more images from it.
	if img, err = vips.NewImageFromBuffer(small); err != nil {
		t.Fatal(firstLine(err))
	}
	lowq, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 15})
	if err != nil {
		t.Fatal(firstLine(err))
	}
	if err := img.Flip(vips.DirectionHorizontal); err != nil {
		t.Fatal(firstLine(err))
	}
	mirrored, _, err := img.ExportPng(vips.NewPngExportParams())
	img.Close()
	if err != nil {
		t.Fatal(firstLine(err))
	}
	for name, b := range map[string][]byte{"small png": small, "q15 jpeg": lowq} {
		d := Distance(h, PHash(t, b))
		t.Logf("distance dandelion → %s: %d", name, d)
		if d > 6 {
			t.Errorf("%s: distance %d to the original, want <= 6", name, d)
		}
	}
	// The orientation-6 fixture is the same picture once rotated as EXIF says.
	if d := Distance(h, PHash(t, Fixture(t, "dandelion-orient6.jpg"))); d > 6 {
		t.Errorf("orientation 6 fixture: distance %d, want <= 6 (PHash honours EXIF orientation)", d)
	}
	// Different pictures are far apart.
	others := map[string][]byte{
		"mirrored": mirrored,
		"coffee":   Fixture(t, "coffee.png"),
		"chelsea":  Fixture(t, "chelsea-alpha.png"),
		"portrait": Fixture(t, "dandelion-portrait.jpg"),
		"uniform":  uniformPNG(t),
		"gradient": gradientPNG(t),
		"ramp":     rampPNG(t),
	}
	for name, b := range others {
		d := Distance(h, PHash(t, b))
		t.Logf("distance dandelion → %s: %d", name, d)
		if d < 16 {
			t.Errorf("%s: distance %d to the dandelion, want >= 16", name, d)
		}
	}
}

func uniformPNG(t *testing.T) []byte {
	t.Helper()
	img, err := vips.Black(64, 64)
	if err != nil {
		t.Fatal(firstLine(err))
	}
	defer img.Close()
	if err := img.Linear1(1, 128); err != nil {
		t.Fatal(firstLine(err))
	}
	if err := img.Cast(vips.BandFormatUchar); err != nil {
		t.Fatal(firstLine(err))
	}
	b, _, err := img.ExportPng(vips.NewPngExportParams())
	if err != nil {
		t.Fatal(firstLine(err))
	}
	return b
}

func gradientPNG(t *testing.T) []byte {
	t.Helper()
	img, err := vips.XYZ(256, 256)
	if err != nil {
		t.Fatal(firstLine(err))
	}
	defer img.Close()
	if err := img.ExtractBand(0, 1); err != nil {
		t.Fatal(firstLine(err))
	}
	if err := img.Cast(vips.BandFormatUchar); err != nil {
		t.Fatal(firstLine(err))
	}
	b, _, err := img.ExportPng(vips.NewPngExportParams())
	if err != nil {
		t.Fatal(firstLine(err))
	}
	return b
}

func rampPNG(t *testing.T) []byte {
	t.Helper()
	// A vertical ramp that saturates to white a quarter of the way down.
	img, err := vips.XYZ(128, 128)
	if err != nil {
		t.Fatal(firstLine(err))
	}
	defer img.Close()
	if err := img.ExtractBand(1, 1); err != nil {
		t.Fatal(firstLine(err))
	}
	if err := img.Linear1(8, 0); err != nil {
		t.Fatal(firstLine(err))
	}
	if err := img.Cast(vips.BandFormatUchar); err != nil {
		t.Fatal(firstLine(err))
	}
	b, _, err := img.ExportPng(vips.NewPngExportParams())
	if err != nil {
		t.Fatal(firstLine(err))
	}
	return b
}

func TestDistance(t *testing.T) {
	cases := []struct {
		a, b uint64
		want int
	}{
		{0, 0, 0},
		{0, ^uint64(0), 64},
		{0b1011, 0b0001, 2},
		{1 << 63, 1, 2},
	}
	for _, c := range cases {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%x, %x) = %d, want %d", c.a, c.b, got, c.want)
		}
		if Distance(c.a, c.b) != Distance(c.b, c.a) {
			t.Errorf("Distance not symmetric")
		}
	}
}
