// Package imagetest holds test helpers for code that produces images: decode
// an encoded image into a few facts, compare images perceptually, look at
// frames, pixels and colours, and load the fixtures in testdata (real
// photographs in testdata/photos, hostile files in testdata/hostile, a
// presets configuration in testdata/presets).
//
// Compare images by dimensions, format and perceptual hash, never by bytes:
// encoder output changes between libvips/libjpeg/libwebp versions.
package imagetest

import (
	"bytes"
	"encoding/binary"
	"github.com/imagepipe/imagepipe/internal/engine/phash"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
)

// Info is what Decode learns about an encoded image.
type Info struct {
	Format        sniff.Format
	Width, Height int // as stored (not EXIF-rotated)
	Bands         int // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
	HasAlpha      bool
	Orientation   int // EXIF orientation as libvips reports it (1 if none)

	// Pages is the number of frames (1 for a still image) and PageHeight
	// the height of one; Height is that of the first frame only when Pages
	// is 1 (an animation decodes as one tall strip: see Animation).
	Pages, PageHeight int

	HasEXIF bool // an EXIF block (libvips fields or an "Exif\0\0"/eXIf/EXIF block in the bytes)
	HasGPS  bool // EXIF with a GPS IFD
	HasXMP  bool
	HasIPTC bool
	HasICC  bool
}

// HasMetadata reports whether any of EXIF, GPS, XMP or IPTC is present. (An
// ICC profile is colour data, not metadata about the photo, and is not
// counted.)
func (i Info) HasMetadata() bool { return i.HasEXIF || i.HasGPS || i.HasXMP || i.HasIPTC }

func start() { imaging.Startup(imaging.Config{}) }

func load(t testing.TB, data []byte) *vips.ImageRef {
	t.Helper()
	start()
	if len(data) == 0 {
		t.Fatal("imagetest: empty image data")
	}
	p := vips.NewImportParams()
	p.FailOnError.Set(true)
	img, err := vips.LoadImageFromBuffer(data, p)
	if err != nil {
		t.Fatalf("imagetest: cannot load image (%d bytes, %s): %s", len(data), sniff.Detect(data), firstLine(err))
	}
	return img
}

// Decode parses the header of an encoded image; it fails the test if libvips
// cannot load it.
func Decode(t testing.TB, data []byte) Info {
	t.Helper()
	img := load(t, data)
	defer img.Close()

	info := Info{
		Format:      sniff.Detect(data),
		Width:       img.Width(),
		Height:      img.Height(),
		Bands:       img.Bands(),
		HasAlpha:    img.HasAlpha(),
		Orientation: img.Orientation(),
		HasICC:      img.HasICCProfile(),
		HasIPTC:     img.HasIPTC(),
		Pages:       max(1, img.Pages()),
		PageHeight:  img.PageHeight(),
	}
	if info.PageHeight <= 0 {
		info.PageHeight = info.Height
	}
	if info.Orientation == 0 {
		info.Orientation = 1
	}
	for _, f := range img.ImageFields() {
		switch {
		case f == "exif-data" || strings.HasPrefix(f, "exif-ifd"):
			info.HasEXIF = true
			if strings.HasPrefix(f, "exif-ifd3-") { // IFD 3 is libvips' name for the GPS IFD
				info.HasGPS = true
			}
		case f == "xmp-data":
			info.HasXMP = true
		case f == "iptc-data":
			info.HasIPTC = true
		}
	}

	// The raw bytes, independently of what libvips chose to parse.
	exif := findEXIF(data)
	if exif != nil {
		info.HasEXIF = true
		if tiffHasGPS(exif) {
			info.HasGPS = true
		}
	}
	if bytes.Contains(data, []byte("Exif\x00\x00")) {
		info.HasEXIF = true
	}
	if bytes.Contains(data, []byte("http://ns.adobe.com/xap/1.0/")) || bytes.Contains(data, []byte("<x:xmpmeta")) {
		info.HasXMP = true
	}
	if bytes.Contains(data, []byte("Photoshop 3.0\x00")) {
		info.HasIPTC = true
	}
	return info
}

// PHash is a 64-bit DCT perceptual hash of the image as displayed: EXIF
// orientation applied, alpha flattened onto white, reduced to a 32x32
// greyscale image with libvips, 2-D DCT, the 8x8 lowest frequencies (DC
// excluded from the median) compared with their median. Compare hashes with
// Distance: 0-6 is "the same picture", > 20 "a different picture".
func PHash(t testing.TB, data []byte) uint64 {
	t.Helper()
	start()
	p := vips.NewImportParams()
	p.FailOnError.Set(true)
	img, err := vips.LoadThumbnailFromBuffer(data, 32, 32, vips.InterestingNone, vips.SizeForce, p)
	if err != nil {
		t.Fatalf("imagetest: PHash cannot load image (%d bytes): %s", len(data), firstLine(err))
	}
	defer img.Close()
	if img.HasAlpha() {
		if err := img.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
			t.Fatalf("imagetest: PHash flatten: %s", firstLine(err))
		}
	}
	if err := img.ToColorSpace(vips.InterpretationBW); err != nil {
		t.Fatalf("imagetest: PHash greyscale: %s", firstLine(err))
	}
	if img.BandFormat() != vips.BandFormatUchar {
		if err := img.Cast(vips.BandFormatUchar); err != nil {
			t.Fatalf("imagetest: PHash cast: %s", firstLine(err))
		}
	}
	if img.Bands() > 1 {
		if err := img.ExtractBand(0, 1); err != nil {
			t.Fatalf("imagetest: PHash band: %s", firstLine(err))
		}
	}
	if img.Width() != 32 || img.Height() != 32 {
		t.Fatalf("imagetest: PHash reduction is %dx%d, want 32x32", img.Width(), img.Height())
	}
	px, err := img.ToBytes()
	if err != nil || len(px) != 32*32 {
		t.Fatalf("imagetest: PHash pixels: %d bytes, %v", len(px), err)
	}
	var in [32][32]float64
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			in[y][x] = float64(px[y*32+x])
		}
	}
	return phash.DCT(&in)
}

// Distance is the Hamming distance between two perceptual hashes (0..64).
func Distance(a, b uint64) int { return phash.Distance(a, b) }

// Fixture returns the bytes of testdata/photos/<name>, found by walking up
// from the test's working directory to the directory holding go.mod.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(FixturePath(t, name))
	if err != nil {
		t.Fatalf("imagetest: read fixture: %v", err)
	}
	return b
}

// FixturePath is the path of testdata/photos/<name> (see Fixture).
func FixturePath(t testing.TB, name string) string {
	t.Helper()
	return TestdataPath(t, filepath.Join("photos", name))
}

// File returns the bytes of testdata/<rel> (e.g. "hostile/png-bomb.png").
func File(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(TestdataPath(t, rel))
	if err != nil {
		t.Fatalf("imagetest: read testdata: %v", err)
	}
	return b
}

// TestdataPath is the path of testdata/<rel>, found by walking up from the
// test's working directory to the directory holding go.mod.
func TestdataPath(t testing.TB, rel string) string {
	t.Helper()
	name := rel
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("imagetest: getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "testdata", name)
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("imagetest: %q not found in testdata (run scripts/make-fixtures.sh): %v", name, err)
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("imagetest: no go.mod above the working directory")
		}
		dir = parent
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// findEXIF returns the TIFF-structured EXIF payload of a JPEG (APP1
// "Exif\0\0"), PNG (eXIf chunk) or WebP (EXIF chunk), or nil.
func findEXIF(data []byte) []byte {
	switch sniff.Detect(data) {
	case sniff.JPEG:
		for i := 2; i+4 <= len(data); {
			if data[i] != 0xFF {
				return nil
			}
			marker := data[i+1]
			if marker == 0xFF { // fill byte
				i++
				continue
			}
			if marker == 0xDA || marker == 0xD9 { // start of scan / end of image
				return nil
			}
			l := int(binary.BigEndian.Uint16(data[i+2:]))
			end := i + 2 + l
			if l < 2 || end > len(data) {
				return nil
			}
			if seg := data[i+4 : end]; marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				return seg[6:]
			}
			i = end
		}
	case sniff.PNG:
		for i := 8; i+12 <= len(data); {
			l := int(binary.BigEndian.Uint32(data[i:]))
			if l < 0 || i+12+l > len(data) {
				return nil
			}
			if string(data[i+4:i+8]) == "eXIf" {
				return data[i+8 : i+8+l]
			}
			i += 12 + l
		}
	case sniff.WebP:
		for i := 12; i+8 <= len(data); {
			l := int(binary.LittleEndian.Uint32(data[i+4:]))
			if l < 0 || i+8+l > len(data) {
				return nil
			}
			if string(data[i:i+4]) == "EXIF" {
				return bytes.TrimPrefix(data[i+8:i+8+l], []byte("Exif\x00\x00"))
			}
			i += 8 + l + l%2
		}
	}
	return nil
}

// tiffHasGPS reports whether IFD0 of a TIFF structure has a GPS IFD pointer
// (tag 0x8825).
func tiffHasGPS(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	var bo binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return false
	}
	off := int(bo.Uint32(b[4:]))
	if off < 8 || off+2 > len(b) {
		return false
	}
	n := int(bo.Uint16(b[off:]))
	for i := 0; i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > len(b) {
			return false
		}
		if bo.Uint16(b[e:]) == 0x8825 {
			return true
		}
	}
	return false
}

// Animation returns the frame count, the per-frame delays (ms) and the loop
// count (libvips' "loop": 0 = forever) of an encoded image; 1, nil, 0 for a
// still image.
func Animation(t testing.TB, data []byte) (frames int, delays []int, loop int) {
	t.Helper()
	img := loadPages(t, data)
	defer img.Close()
	frames = max(1, img.Pages())
	if frames > 1 {
		var err error
		if delays, err = img.PageDelay(); err != nil {
			t.Fatalf("imagetest: frame delays: %v", err)
		}
	}
	return frames, delays, img.GetInt("loop")
}

// Frame returns frame i of an encoded (possibly animated) image as a PNG,
// for PHash or pixel checks.
func Frame(t testing.TB, data []byte, i int) []byte {
	t.Helper()
	img := loadPages(t, data)
	defer img.Close()
	n := max(1, img.Pages())
	if i < 0 || i >= n {
		t.Fatalf("imagetest: frame %d of %d", i, n)
	}
	ph := img.Height() / n
	// One page, or govips extracts the area from every page.
	if err := img.SetPageHeight(img.Height()); err != nil {
		t.Fatalf("imagetest: page height: %s", firstLine(err))
	}
	if err := img.ExtractArea(0, i*ph, img.Width(), ph); err != nil {
		t.Fatalf("imagetest: extract frame %d: %s", i, firstLine(err))
	}
	b, _, err := img.ExportPng(&vips.PngExportParams{Compression: 1})
	if err != nil {
		t.Fatalf("imagetest: frame %d as PNG: %s", i, firstLine(err))
	}
	return b
}

// loadPages loads every page of data.
func loadPages(t testing.TB, data []byte) *vips.ImageRef {
	t.Helper()
	start()
	p := vips.NewImportParams()
	p.FailOnError.Set(true)
	if f := sniff.Detect(data); f == sniff.GIF || f == sniff.WebP {
		p.NumPages.Set(-1)
	}
	img, err := vips.LoadImageFromBuffer(data, p)
	if err != nil {
		t.Fatalf("imagetest: cannot load image (%d bytes, %s): %s", len(data), sniff.Detect(data), firstLine(err))
	}
	return img
}

// Pixel returns the band values of the pixel at x, y of an encoded image
// (as stored: not EXIF-rotated).
func Pixel(t testing.TB, data []byte, x, y int) []float64 {
	t.Helper()
	img := load(t, data)
	defer img.Close()
	p, err := img.GetPoint(x, y)
	if err != nil {
		t.Fatalf("imagetest: pixel (%d,%d) of %dx%d: %s", x, y, img.Width(), img.Height(), firstLine(err))
	}
	return p
}

// MeanColour returns the mean R, G, B of an encoded image as displayed in
// sRGB: its embedded ICC profile applied (CMYK, Adobe RGB, …), greyscale
// expanded to three equal bands, alpha ignored.
func MeanColour(t testing.TB, data []byte) [3]float64 {
	t.Helper()
	img := load(t, data)
	defer img.Close()
	if img.HasICCProfile() {
		if err := img.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
			t.Fatalf("imagetest: colour transform: %s", firstLine(err))
		}
	}
	if img.Interpretation() != vips.InterpretationSRGB || img.BandFormat() != vips.BandFormatUchar {
		if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
			t.Fatalf("imagetest: to sRGB: %s", firstLine(err))
		}
	}
	var out [3]float64
	for b := 0; b < 3; b++ {
		band, err := img.ExtractBandToImage(b, 1)
		if err != nil {
			t.Fatalf("imagetest: band %d: %s", b, firstLine(err))
		}
		out[b], err = band.Average()
		band.Close()
		if err != nil {
			t.Fatalf("imagetest: band %d mean: %s", b, firstLine(err))
		}
	}
	return out
}

// ColourDistance is the largest per-band difference between two mean
// colours.
func ColourDistance(a, b [3]float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// ICC returns the embedded ICC profile of an encoded image (nil if none).
func ICC(t testing.TB, data []byte) []byte {
	t.Helper()
	img := load(t, data)
	defer img.Close()
	if !img.HasICCProfile() {
		return nil
	}
	return img.GetICCProfile()
}

// EXIFField returns a libvips EXIF field ("exif-ifd0-Model", …) of an
// encoded image as text, "" when absent.
func EXIFField(t testing.TB, data []byte, name string) string {
	t.Helper()
	img := load(t, data)
	defer img.Close()
	for _, f := range img.ImageFields() {
		if f == name {
			return img.GetString(name)
		}
	}
	return ""
}

// XMP returns the XMP packet of an encoded image ("" if none).
func XMP(t testing.TB, data []byte) string {
	t.Helper()
	img := load(t, data)
	defer img.Close()
	for _, f := range img.ImageFields() {
		if f == "xmp-data" {
			return string(img.GetBlob(f))
		}
	}
	return ""
}
