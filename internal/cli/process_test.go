package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// builtinPresets makes `imagepipe process` start from the built-in presets
// whatever the environment says (it honours IMAGEPIPE_PRESETS).
func builtinPresets(t *testing.T) { t.Setenv("IMAGEPIPE_PRESETS", "") }

// runCLI runs the command line and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

type wantVariant struct {
	file          string // relative to the output directory
	format        sniff.Format
	width, height int
}

func checkVariants(t *testing.T, dir string, want []wantVariant) {
	t.Helper()
	for _, w := range want {
		data, err := os.ReadFile(filepath.Join(dir, w.file))
		if err != nil {
			t.Errorf("%s: %v", w.file, err)
			continue
		}
		info := imagetest.Decode(t, data)
		if info.Format != w.format || info.Width != w.width || info.Height != w.height {
			t.Errorf("%s: %s %dx%d, want %s %dx%d", w.file, info.Format, info.Width, info.Height, w.format, w.width, w.height)
		}
		if info.HasMetadata() {
			t.Errorf("%s: metadata not stripped: %+v", w.file, info)
		}
	}
}

// The default preset on real photographs: every variant is written where
// the processor's variant keys would put it, with the sizes the processor
// gives (EXIF orientation applied, never upscaled), one line per output.
func TestProcessDefaultPreset(t *testing.T) {
	builtinPresets(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "process", "-o", out,
		imagetest.FixturePath(t, "dandelion.jpg"),
		imagetest.FixturePath(t, "dandelion-orient6.jpg"),
		imagetest.FixturePath(t, "coffee.png"))
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	checkVariants(t, out, []wantVariant{
		{"dandelion/thumb.png", sniff.PNG, 64, 64},
		{"dandelion/medium.webp", sniff.WebP, 800, 450},
		{"dandelion/large.webp", sniff.WebP, 1600, 900},
		{"dandelion-orient6/thumb.png", sniff.PNG, 64, 64},
		{"dandelion-orient6/medium.webp", sniff.WebP, 800, 450}, // upright
		{"dandelion-orient6/large.webp", sniff.WebP, 1600, 900},
		{"coffee/thumb.png", sniff.PNG, 64, 64},
		{"coffee/medium.webp", sniff.WebP, 600, 400}, // never upscaled
		{"coffee/large.webp", sniff.WebP, 600, 400},
	})
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 9 {
		t.Fatalf("want one line per output (9), got %d:\n%s", len(lines), stdout)
	}
	if want := filepath.Join(out, "dandelion", "medium.webp") + "\tmedium\twebp\t800x450\t"; !strings.HasPrefix(lines[1], want) ||
		!strings.HasSuffix(lines[1], " ms") || !strings.Contains(lines[1], " B\t") {
		t.Errorf("line %q: want %q, then bytes and ms", lines[1], want)
	}
}

// -json prints one object per file, with what a READY image records.
func TestProcessJSON(t *testing.T) {
	builtinPresets(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "process", "-json", "-preset", "default", "-o", out, imagetest.FixturePath(t, "chelsea-alpha.png"))
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var got processedFile
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if got.Preset != "default" || got.Source.Format != "png" || got.Source.Width != 451 || got.Source.Height != 300 || len(got.Variants) != 3 {
		t.Fatalf("got %+v", got)
	}
	for _, v := range got.Variants {
		data, err := os.ReadFile(v.Path)
		if err != nil {
			t.Fatal(err)
		}
		if v.Bytes != len(data) || v.Width == 0 || v.Height == 0 || v.ContentType == "" {
			t.Errorf("variant %+v: file has %d bytes", v, len(data))
		}
		if info := imagetest.Decode(t, data); info.Width != v.Width || info.Height != v.Height || string(info.Format) != v.Format {
			t.Errorf("variant %s: reported %s %dx%d, file is %s %dx%d", v.Name, v.Format, v.Width, v.Height, info.Format, info.Width, info.Height)
		}
	}
	if got.Variants[0].Name != "thumb" || !got.Variants[0].hasAlpha(t) {
		t.Errorf("the PNG thumbnail of an RGBA source keeps its alpha")
	}
	if got.Extras == nil || got.Extras.BlurHash == "" || len(got.Extras.PHash) != 16 {
		t.Errorf("extras: %+v", got.Extras)
	}
}

func (v processedVar) hasAlpha(t *testing.T) bool {
	data, err := os.ReadFile(v.Path)
	if err != nil {
		t.Fatal(err)
	}
	return imagetest.Decode(t, data).HasAlpha
}

// An inline spec, as JSON text or as a file, with flags after the files.
func TestProcessInlineSpec(t *testing.T) {
	builtinPresets(t)
	dir := t.TempDir()
	const s = `{"variants":[{"name":"square","width":300,"height":300,"fit":"FIT_COVER","format":"FORMAT_JPEG","quality":85},
		{"name":"w200","width":200,"format":"FORMAT_PNG"}]}`
	specFile := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specFile, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, arg := range map[string]string{"text": s, "file": specFile} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name)
			code, _, stderr := runCLI(t, "process", imagetest.FixturePath(t, "dandelion-portrait.jpg"), "-spec", arg, "-o", out)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			checkVariants(t, out, []wantVariant{
				{"dandelion-portrait/square.jpg", sniff.JPEG, 300, 300},
				{"dandelion-portrait/w200.png", sniff.PNG, 200, 333},
			})
		})
	}
}

// Bad specs and presets are refused before any file is read, naming the
// field at fault, with the usage exit code.
func TestProcessInvalidSpec(t *testing.T) {
	builtinPresets(t)
	dir := t.TempDir()
	badPresets := filepath.Join(dir, "presets.json")
	if err := os.WriteFile(badPresets, []byte(`{"presets":[{"name":"Bad Name","spec":{"variants":[{"name":"a","width":10}]}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	photo := imagetest.FixturePath(t, "dandelion.jpg")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"field", []string{"-spec", `{"variants":[{"name":"ok","width":100,"format":"FORMAT_PNG"},{"name":"neg","width":-5,"format":"FORMAT_WEBP"}]}`},
			"spec.variants[1].width"},
		{"not json", []string{"-spec", `{"variants":`}, "spec: not a JSON ProcessingSpec"},
		{"unknown field", []string{"-spec", `{"variants":[{"name":"a","widht":10}]}`}, "spec: not a JSON ProcessingSpec"},
		{"missing spec file", []string{"-spec", filepath.Join(dir, "nope.json")}, "spec: "},
		{"no variants", []string{"-spec", `{}`}, "spec.variants"},
		{"unknown preset", []string{"-preset", "poster"}, `preset: unknown preset "poster"`},
		{"preset and spec", []string{"-preset", "default", "-spec", `{"variants":[{"name":"a","width":10}]}`}, "spec: give a preset or a spec, not both"},
		{"bad presets file", []string{"-presets", badPresets}, "presets[0].name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out")
			args := append(append([]string{"process", "-o", out}, c.args...), photo)
			code, stdout, stderr := runCLI(t, args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q: want 2 and %q", code, stderr, c.want)
			}
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output directory created for a refused spec")
			}
		})
	}
}

func TestProcessUsage(t *testing.T) {
	builtinPresets(t)
	photo := imagetest.FixturePath(t, "dandelion.jpg")
	out := t.TempDir()
	for name, args := range map[string][]string{
		"no output dir":  {"process", photo},
		"no files":       {"process", "-o", out},
		"bad workers":    {"process", "-o", out, "-workers", "0", photo},
		"bad repeat":     {"process", "-o", out, "-repeat", "0", photo},
		"same stem":      {"process", "-o", out, photo, imagetest.FixturePath(t, "coffee.png"), filepath.Join(t.TempDir(), "dandelion.png")},
		"unknown flag":   {"process", "-o", out, "-frobnicate", photo},
		"late bad flag ": {"process", "-o", out, photo, "-workers", "x"},
	} {
		if code, _, stderr := runCLI(t, args...); code != 2 || stderr == "" {
			t.Errorf("%s: exit %d, stderr %q; want 2 and a message", name, code, stderr)
		}
	}
}

// One bad file does not stop the others: the good ones are written, each
// bad one is reported on stderr with the code the processor would record,
// and the exit status is 1.
func TestProcessBadFileDoesNotStopOthers(t *testing.T) {
	builtinPresets(t)
	dir := t.TempDir()
	good := imagetest.Fixture(t, "dandelion.jpg")
	truncated := filepath.Join(dir, "truncated.jpg")
	if err := os.WriteFile(truncated, good[:len(good)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	notImage := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(notImage, []byte("these are not pixels\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, workers := range []string{"1", "2"} {
		t.Run("workers="+workers, func(t *testing.T) {
			os.RemoveAll(out)
			code, stdout, stderr := runCLI(t, "process", "-workers", workers, "-o", out,
				truncated, imagetest.FixturePath(t, "dandelion.jpg"), filepath.Join(dir, "missing.jpg"), notImage,
				imagetest.TestdataPath(t, "hostile/huge-dimensions.jpg"))
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			checkVariants(t, out, []wantVariant{
				{"dandelion/thumb.png", sniff.PNG, 64, 64},
				{"dandelion/medium.webp", sniff.WebP, 800, 450},
				{"dandelion/large.webp", sniff.WebP, 1600, 900},
			})
			if n := strings.Count(stdout, "\n"); n != 3 {
				t.Errorf("stdout has %d lines, want the 3 good outputs:\n%s", n, stdout)
			}
			for _, want := range []string{
				"truncated.jpg: refused (corrupt)",
				"missing.jpg: open ",
				"notes.png: refused (unsupported_format)",
				"huge-dimensions.jpg: refused (too_large_dimensions)",
				"1 of 5 files processed",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, bad := range []string{"truncated", "missing", "notes", "huge-dimensions"} {
				if _, err := os.Stat(filepath.Join(out, bad)); !os.IsNotExist(err) {
					t.Errorf("%s: output written for a refused file", bad)
				}
			}
		})
	}
}

// -presets loads a presets file merged over the built-ins (spec.LoadPresets).
func TestProcessPresetsFile(t *testing.T) {
	builtinPresets(t)
	dir := t.TempDir()
	presets := filepath.Join(dir, "presets.json")
	if err := os.WriteFile(presets, []byte(`{"presets":[
		{"name":"tiny","spec":{"variants":[{"name":"t","width":32,"height":32,"fit":"FIT_COVER","format":"FORMAT_JPEG"}]}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, _, stderr := runCLI(t, "process", "-presets", presets, "-preset", "tiny", "-o", out, imagetest.FixturePath(t, "coffee.png"))
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	checkVariants(t, out, []wantVariant{{"coffee/t.jpg", sniff.JPEG, 32, 32}})
	// The built-ins are still there.
	code, _, stderr = runCLI(t, "process", "-presets", presets, "-preset", "avatar", "-o", out, imagetest.FixturePath(t, "coffee.png"))
	if code != 0 {
		t.Fatalf("avatar: exit %d, stderr:\n%s", code, stderr)
	}
	checkVariants(t, out, []wantVariant{{"coffee/100.png", sniff.PNG, 100, 100}})

	// IMAGEPIPE_PRESETS, as the server reads it, is the default of -presets.
	t.Setenv("IMAGEPIPE_PRESETS", presets)
	code, _, stderr = runCLI(t, "process", "-preset", "tiny", "-o", out, imagetest.FixturePath(t, "grey.jpg"))
	if code != 0 {
		t.Fatalf("IMAGEPIPE_PRESETS: exit %d, stderr:\n%s", code, stderr)
	}
	checkVariants(t, out, []wantVariant{{"grey/t.jpg", sniff.JPEG, 32, 32}})
}

// -workers and -repeat: every file runs repeat times on the worker pool,
// the outputs are written once per file name and listed once.
func TestProcessWorkersRepeat(t *testing.T) {
	builtinPresets(t)
	out := t.TempDir()
	files := []string{
		imagetest.FixturePath(t, "dandelion.jpg"),
		imagetest.FixturePath(t, "coffee.png"),
		imagetest.FixturePath(t, "grey.jpg"),
	}
	args := append([]string{"process", "-json", "-workers", "2", "-repeat", "3", "-spec",
		`{"variants":[{"name":"t","width":400,"height":400,"format":"FORMAT_JPEG","quality":80}]}`, "-o", out}, files...)
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var f processedFile
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		seen[f.File]++
	}
	for _, f := range files {
		if seen[f] != 1 {
			t.Errorf("%s listed %d times, want once", f, seen[f])
		}
	}
	if !strings.Contains(stderr, "3 of 3 files processed (9 runs") {
		t.Errorf("summary: %s", stderr)
	}
	checkVariants(t, out, []wantVariant{
		{"dandelion/t.jpg", sniff.JPEG, 400, 225},
		{"coffee/t.jpg", sniff.JPEG, 400, 267},
	})
	entries, err := os.ReadDir(filepath.Join(out, "dandelion"))
	if err != nil || len(entries) != 1 {
		t.Errorf("dandelion/: %v, %v (temporary files left behind?)", entries, err)
	}
}
