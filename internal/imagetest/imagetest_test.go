package imagetest

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/sniff"
)

func TestFixtures(t *testing.T) {
	cases := []struct {
		name          string
		format        sniff.Format
		w, h, bands   int
		orientation   int
		exif, gps     bool
		xmp, iptc     bool
		alpha         bool
		metadataTotal bool
	}{
		{"dandelion.jpg", sniff.JPEG, 1600, 900, 3, 1, true, true, true, true, false, true},
		{"dandelion-orient6.jpg", sniff.JPEG, 900, 1600, 3, 6, true, true, true, true, false, true},
		{"dandelion-portrait.jpg", sniff.JPEG, 600, 1000, 3, 1, false, false, false, false, false, false},
		{"coffee.png", sniff.PNG, 600, 400, 3, 1, false, false, false, false, false, false},
		{"chelsea-alpha.png", sniff.PNG, 451, 300, 4, 1, false, false, false, false, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := FixturePath(t, c.name)
			if !strings.HasSuffix(filepath.ToSlash(p), "testdata/photos/"+c.name) {
				t.Errorf("FixturePath = %q", p)
			}
			info := Decode(t, Fixture(t, c.name))
			want := Info{Format: c.format, Width: c.w, Height: c.h, Bands: c.bands, HasAlpha: c.alpha, Orientation: c.orientation,
				HasEXIF: c.exif, HasGPS: c.gps, HasXMP: c.xmp, HasIPTC: c.iptc}
			info.HasICC = false // not part of this comparison
			if info != want {
				t.Errorf("Decode = %+v\nwant     %+v", info, want)
			}
			if info.HasMetadata() != c.metadataTotal {
				t.Errorf("HasMetadata = %v", info.HasMetadata())
			}
		})
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
