package imaging_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// openTemp writes data to a new file and opens it for reading.
func openTemp(t *testing.T, data []byte) *os.File {
	t.Helper()
	name := filepath.Join(t.TempDir(), "original")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// ProcessFile reads the original through a descriptor where Process reads
// it in memory: every loader (JPEG with and without orientation, CMYK,
// PNG, 16-bit, grey, GIF and WebP animations, HEIC through libheif) must
// give byte-identical variants and extras, and a file processed twice
// (its offset moved by the first run) must give them again.
func TestProcessFileMatchesProcess(t *testing.T) {
	variants := append(defaultPreset(),
		imaging.Variant{Name: "meta", Width: 300, Height: 300, Fit: imaging.FitInside, Format: imaging.FormatJPEG, Quality: 80, KeepICC: true, KeepCopyright: true, StripMetadata: true},
		imaging.Variant{Name: "anim", Width: 120, Height: 120, Fit: imaging.FitInside, Format: imaging.FormatGIF},
	)
	for _, name := range []string{landscapeJPEG, orient6JPEG, photoPNG, alphaPNG, "cmyk.jpg", "adobergb.jpg", "adobergb.heic", "rgb16.png", "grey.jpg", "anim.gif", "anim.webp"} {
		t.Run(name, func(t *testing.T) {
			data := imagetest.Fixture(t, name)
			want := process(t, data, variants...)
			f := openTemp(t, data)
			for run := 1; run <= 2; run++ {
				got, err := imaging.ProcessFile(context.Background(), f, variants, imaging.Limits{})
				if err != nil {
					t.Fatalf("run %d: ProcessFile: %v", run, err)
				}
				if got.Source != want.Source || got.Extras.BlurHash != want.Extras.BlurHash || got.Extras.PHash != want.Extras.PHash {
					t.Errorf("run %d: source %+v extras %+v; Process: %+v %+v", run, got.Source, got.Extras, want.Source, want.Extras)
				}
				for i, out := range got.Variants {
					if w := want.Variants[i]; !bytes.Equal(out.Data, w.Data) || out.Width != w.Width || out.Height != w.Height || out.Frames != w.Frames {
						t.Errorf("run %d: %s: %dx%d, %d frames, %d bytes; Process: %dx%d, %d frames, %d bytes (different bytes)",
							run, out.Name, out.Width, out.Height, out.Frames, len(out.Data), w.Width, w.Height, w.Frames, len(w.Data))
					}
				}
			}
		})
	}
}

// The hostile inputs are refused from a file as from memory, with the same
// codes: the sniffing and the polyglot check read the file's ends.
func TestProcessFileHostile(t *testing.T) {
	for _, c := range hostileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			res, err := imaging.ProcessFile(context.Background(), openTemp(t, c.data), defaultPreset(), imaging.Limits{})
			var ie *imaging.Error
			if res != nil || !errors.As(err, &ie) || ie.Code != c.code {
				t.Fatalf("ProcessFile = %v, %v; want *imaging.Error %s", res, err, c.code)
			}
		})
	}
}

// A file that cannot be read is an internal failure, not the input's
// fault: the job is retried rather than failed.
func TestProcessFileUnreadable(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	closed := openTemp(t, imagetest.Fixture(t, landscapeJPEG))
	closed.Close()
	for name, f := range map[string]*os.File{"a directory": dir, "a closed file": closed} {
		_, err := imaging.ProcessFile(context.Background(), f, defaultPreset(), imaging.Limits{})
		var ie *imaging.Error
		if err == nil || errors.As(err, &ie) {
			t.Errorf("%s: ProcessFile error = %v, want an internal error", name, err)
		}
	}
}
