package imaging_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/internal/testkit/procmem"
)

// hostileCases are refused quickly, each with its code.
func hostileCases(t testing.TB) []struct {
	name string
	data []byte
	code string
} {
	photo := imagetest.Fixture(t, landscapeJPEG)
	random := make([]byte, 64<<10)
	rand.New(rand.NewSource(2)).Read(random)
	return []struct {
		name string
		data []byte
		code string
	}{
		{"jpeg declaring 64250x64250", imagetest.File(t, "hostile/huge-dimensions.jpg"), imaging.CodeTooLargeDimensions},
		{"png decompression bomb (16000x16000)", imagetest.File(t, "hostile/png-bomb.png"), imaging.CodeTooManyPixels},
		{"svg with an external entity", imagetest.File(t, "hostile/xxe.svg"), imaging.CodeUnsupportedFormat},
		{"jpeg+zip polyglot", imagetest.File(t, "hostile/polyglot.jpg"), imaging.CodePolyglot},
		{"jpeg+pdf polyglot", append(append([]byte(nil), photo[:200]...), append([]byte("%PDF-1.7\n"), photo[200:]...)...), imaging.CodePolyglot},
		{"truncated jpeg", photo[:len(photo)*6/10], imaging.CodeCorrupt},
		{"zero bytes", []byte{}, imaging.CodeEmpty},
		{"random bytes", random, imaging.CodeUnsupportedFormat},
	}
}

func TestHostileInputs(t *testing.T) {
	for _, c := range hostileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			res, err := imaging.Process(context.Background(), c.data, defaultPreset(), imaging.Limits{})
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Errorf("took %v; refusals must be quick", elapsed)
			}
			var ie *imaging.Error
			if res != nil || !errors.As(err, &ie) || ie.Code != c.code {
				t.Fatalf("Process = %v, %v; want *imaging.Error %s", res, err, c.code)
			}
			if msg := ie.Error(); msg == "" || strings.Contains(msg, "vips") || strings.Contains(msg, "Stack") {
				t.Errorf("message %q is not a safe user message", msg)
			}
		})
	}
	// The SVG never reaches a loader: blocked by the allowlist, and libvips'
	// own SVG loader is blocked too (TestUntrustedLoadersBlocked).
	if f := sniff.Detect(imagetest.File(t, "hostile/xxe.svg")); f != sniff.Unknown {
		t.Errorf("the SVG sniffs as %s", f)
	}
	// A JPEG with trailing data that is not an archive is fine.
	photo := imagetest.Fixture(t, landscapeJPEG)
	trailer := append(append([]byte(nil), photo...), bytes.Repeat([]byte("trailer"), 100)...)
	if _, err := imaging.Process(context.Background(), trailer, defaultPreset()[:1], imaging.Limits{}); err != nil {
		t.Errorf("JPEG with a harmless trailer: %v", err)
	}
}

// TestMemoryStaysBounded runs hostile and large inputs in a child process
// and checks its peak resident memory (VmHWM) growth. A PNG bomb, a JPEG
// declaring 4 gigapixels and corrupt data must cost next to nothing; a real
// 23-megapixel JPEG is decoded with shrink-on-load, never at full size.
func TestMemoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: cannot measure resident memory")
	}
	dir := t.TempDir()
	// A 6400x3600 JPEG (the landscape photo tiled 4x4): 23 MP, 66 MiB as RGB.
	img, err := vips.NewImageFromBuffer(imagetest.Fixture(t, landscapeJPEG))
	if err != nil {
		t.Fatal(short(err))
	}
	if err := img.Replicate(4, 4); err != nil {
		t.Fatal(short(err))
	}
	big, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 75, StripMetadata: true})
	img.Close()
	if err != nil {
		t.Fatal(short(err))
	}
	if err := os.WriteFile(filepath.Join(dir, "big.jpg"), big, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "IMAGEPIPE_MEMTEST_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	growth := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var phase string
		var kb int
		if _, err := fmt.Sscanf(strings.TrimSpace(sc.Text()), "MEM %s %d", &phase, &kb); err == nil {
			growth[phase] = kb
		}
	}
	t.Logf("peak RSS growth (KiB): %v", growth)
	for phase, limit := range map[string]int{
		// Nothing is decoded: the limits are checked from the header.
		"hostile": 40 << 10,
		// Shrink-on-load decodes 1600x900 (JPEG 1/4), not 6400x3600 (66 MiB
		// as RGB, 88 MiB with the TIFF copy if decoded at full size).
		"big": 60 << 10,
	} {
		kb, ok := growth[phase]
		if !ok {
			t.Fatalf("child did not report %q:\n%s", phase, out)
		}
		if kb > limit {
			t.Errorf("%s: peak RSS grew by %d KiB, want <= %d KiB", phase, kb, limit)
		}
	}
}

// TestMemoryChild is the child of TestMemoryStaysBounded.
func TestMemoryChild(t *testing.T) {
	dir := os.Getenv("IMAGEPIPE_MEMTEST_DIR")
	if dir == "" {
		t.Skip("helper process for TestMemoryStaysBounded")
	}
	big, err := os.ReadFile(filepath.Join(dir, "big.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	// Warm up: libvips' thread pool, loaders and encoders are initialised.
	process(t, imagetest.Fixture(t, landscapeJPEG), defaultPreset()...)
	cases := hostileCases(t)

	measure := func(phase string, run func()) {
		// Without a reset (Linux before 4.0) the peak so far is the
		// baseline.
		_ = procmem.ResetPeak(procmem.Self)
		before := vmHWM(t)
		run()
		fmt.Printf("MEM %s %d\n", phase, vmHWM(t)-before)
	}
	measure("hostile", func() {
		for round := 0; round < 5; round++ {
			for _, c := range cases {
				if _, err := imaging.Process(context.Background(), c.data, defaultPreset(), imaging.Limits{}); err == nil {
					t.Errorf("%s accepted", c.name)
				}
			}
		}
	})
	measure("big", func() {
		var decoded [2]int
		restore := imaging.SetDecodeHook(func(w, h int) { decoded = [2]int{w, h} })
		defer restore()
		res := process(t, big, defaultPreset()...)
		if res.Source.Width != 6400 || decoded[0] > 1600 {
			t.Errorf("source %dx%d decoded at %v", res.Source.Width, res.Source.Height, decoded)
		}
	})
}

// vmHWM is the peak RSS in kB.
func vmHWM(t *testing.T) int {
	t.Helper()
	u, err := procmem.Read(procmem.Self)
	if err != nil {
		t.Fatal(err)
	}
	return int(u.Peak >> 10)
}

// FuzzProbe: whatever the bytes, Probe never crashes and either accepts the
// image within the limits or refuses it with an *Error.
func FuzzProbe(f *testing.F) {
	for _, name := range []string{landscapeJPEG, photoPNG, "anim.gif", "anim.webp"} {
		b, err := os.ReadFile(imagetest.FixturePath(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	for _, name := range []string{"hostile/huge-dimensions.jpg", "hostile/polyglot.jpg", "hostile/xxe.svg"} {
		f.Add(imagetest.File(f, name))
	}
	f.Add([]byte{})
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	lim := imaging.Limits{MaxPixels: 4 << 20, MaxWidth: 4096, MaxHeight: 4096, MaxFrames: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := imaging.Probe(data, lim)
		if err != nil {
			var ie *imaging.Error
			if !errors.As(err, &ie) || ie.Code == "" {
				t.Fatalf("Probe error %v is not an *imaging.Error", err)
			}
			return
		}
		if info.Width < 1 || info.Height < 1 || info.Width > 4096 || info.Height > 4096 || info.Frames < 1 || info.Frames > 50 {
			t.Fatalf("accepted %+v outside the limits", info)
		}
	})
}
