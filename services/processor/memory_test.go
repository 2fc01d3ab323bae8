package processor_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/internal/testkit/procmem"
	"github.com/imagepipe/imagepipe/services/processor"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The memory a job costs beyond what libvips needs (issue 12, §3).
const (
	// bigOriginal is the size of the original the test processes.
	bigOriginal = 45 << 20
	// maxExtraRSS is how much more a job's peak RSS may grow than libvips'
	// own decode and encode of the same original.
	maxExtraRSS = 32 << 20
	// maxJobAllocs bounds the Go heap allocations of the whole job: far
	// below the original's size, so no copy of it was ever allocated.
	maxJobAllocs = bigOriginal / 4
)

// memModes are the ways the children process the original: libvips alone
// (imaging.ProcessFile on the file: the baseline), the processor on a
// store of local files (fsblob gives libvips its file), on a remote store
// (no blob.Localer: the original is streamed into a temporary file), and,
// to show the bound can fail, the processor's way before it read files:
// the whole original read into the Go heap, then processed.
var memModes = []string{"libvips", "local", "remote", "in-heap"}

// A 45 MiB original costs the processor no more than 32 MiB of RSS beyond
// libvips' own decode and encode of it, and no Go heap allocation near its
// size, whether its store has local files or not. Each mode runs in a
// child process of its own (the test binary again), which reports the
// growth of its peak RSS (VmHWM) and its Go heap allocations during the
// job alone.
func TestOriginalStaysOutOfTheHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	if !procmem.CanResetPeak() {
		t.Skip("no /proc/self/clear_refs: cannot measure the peak RSS of a job")
	}
	path := writeBigPNG(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("original: %.1f MiB PNG", float64(fi.Size())/(1<<20))
	if fi.Size() < bigOriginal {
		t.Fatalf("the original is %d bytes, want at least %d", fi.Size(), bigOriginal)
	}
	got := map[string]memReport{}
	for _, mode := range memModes {
		got[mode] = runMemChild(t, mode, path)
		t.Logf("%-8s peak RSS +%6.1f MiB, Go heap allocations %6.1f MiB", mode, mib(got[mode].rss), mib(got[mode].allocs))
	}
	base := got["libvips"].rss
	for _, mode := range []string{"local", "remote"} {
		if extra := got[mode].rss - base; extra > maxExtraRSS {
			t.Errorf("%s: the job's peak RSS grew %.1f MiB more than libvips' own (%.1f MiB); the bound is %.1f MiB",
				mode, mib(extra), mib(base), mib(maxExtraRSS))
		}
		if a := got[mode].allocs; a > maxJobAllocs {
			t.Errorf("%s: the job allocated %.1f MiB in the Go heap; the bound is %.1f MiB", mode, mib(a), mib(maxJobAllocs))
		}
	}
	// The measure tells the ways apart: holding the original in the heap
	// is over both bounds.
	if extra := got["in-heap"].rss - base; extra <= maxExtraRSS || got["in-heap"].allocs <= maxJobAllocs {
		t.Errorf("in-heap: +%.1f MiB RSS over libvips', %.1f MiB allocated: the test cannot see a copy of the original",
			mib(extra), mib(got["in-heap"].allocs))
	}
}

type memReport struct{ rss, allocs int64 }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// writeBigPNG makes the original: the landscape photograph enlarged to
// 5312x2988 (the size of the photograph it was made from) and written as
// an uncompressed PNG, 45.5 MiB (a compressed PNG or a JPEG that large
// would exceed the pixel limit).
func writeBigPNG(t *testing.T) string {
	t.Helper()
	imaging.Startup(imaging.Config{})
	img, err := vips.NewImageFromBuffer(imagetest.Fixture(t, "dandelion.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := img.Resize(3.32, vips.KernelLanczos3); err != nil {
		t.Fatal(err)
	}
	data, _, err := img.ExportPng(&vips.PngExportParams{Compression: 0, StripMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.png")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runMemChild runs TestOriginalMemoryChild in mode on the original at path.
func runMemChild(t *testing.T, mode, path string) memReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOriginalMemoryChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "IMAGEPIPE_MEMTEST_MODE="+mode, "IMAGEPIPE_MEMTEST_FILE="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s child: %v\n%s", mode, err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r memReport
		if _, err := fmt.Sscanf(strings.TrimSpace(sc.Text()), "MEM rss=%d allocs=%d", &r.rss, &r.allocs); err == nil {
			return r
		}
	}
	t.Fatalf("%s child reported nothing:\n%s", mode, out)
	return memReport{}
}

// TestOriginalMemoryChild is the child of TestOriginalStaysOutOfTheHeap:
// it warms its mode up on a small photograph (libvips' loaders and
// encoders, the stores), then processes the original and prints how much
// its peak RSS and its Go heap allocations grew meanwhile.
func TestOriginalMemoryChild(t *testing.T) {
	mode, path := os.Getenv("IMAGEPIPE_MEMTEST_MODE"), os.Getenv("IMAGEPIPE_MEMTEST_FILE")
	if mode == "" {
		t.Skip("helper process for TestOriginalStaysOutOfTheHeap")
	}
	run := memJob(t, mode)
	small := filepath.Join(t.TempDir(), "small.jpg")
	if err := os.WriteFile(small, imagetest.Fixture(t, "dandelion.jpg"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(small)
	runtime.GC()
	if err := procmem.ResetPeak(procmem.Self); err != nil {
		t.Fatal(err)
	}
	before, allocs := vmHWM(t), heapAllocs()
	run(path)
	fmt.Printf("MEM rss=%d allocs=%d\n", vmHWM(t)-before, heapAllocs()-allocs)
}

// memJob returns what mode does with an original file.
func memJob(t *testing.T, mode string) func(path string) {
	ctx := context.Background()
	presets := spec.Builtin()
	_, sp, _ := presets.Resolve("", "", nil)
	limits := processor.DefaultConfig().Limits
	switch mode {
	case "libvips":
		return func(path string) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := imaging.ProcessFile(ctx, f, presets.Variants(sp), spec.Limits(sp, limits)); err != nil {
				t.Fatal(err)
			}
		}
	case "in-heap":
		return func(path string) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := processor.Render(ctx, presets, sp, data, limits); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := newRig(t, nil)
	p := r.proc
	if mode == "remote" {
		p = r.procWith(t, remoteStore{r.originals})
	}
	return func(path string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		id := jobs.NewID()
		_, err = r.originals.Put(ctx, id, f, blob.PutOptions{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.Submit(ctx, r.rs, r.q, &pb.Image{Id: id, Spec: sp, Preset: "default", CreateTime: timestamppb.Now()}); err != nil {
			t.Fatal(err)
		}
		p.Handle(ctx, r.receive(t))
		if img := r.state(t, id); img.GetState() != ready {
			t.Fatalf("%s: %s %v", mode, img.GetState(), img.GetError())
		}
	}
}

// remoteStore is a store without local files (as S3): the embedded store
// with its blob.Localer hidden.
type remoteStore struct{ blob.Store }

// heapAllocs is the bytes allocated in the Go heap so far.
func heapAllocs() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// vmHWM is the peak RSS in bytes.
func vmHWM(t *testing.T) int64 {
	t.Helper()
	u, err := procmem.Read(procmem.Self)
	if err != nil {
		t.Fatal(err)
	}
	return u.Peak
}

// An original from a store without local files goes through a temporary
// file in TempDir, bounded by MaxOriginalBytes, which is gone after the job
// however it ends; one from a store of local files needs none.
func TestOriginalTemporaryFile(t *testing.T) {
	photo := imagetest.Fixture(t, "dandelion.jpg")
	size := int64(len(photo))
	cases := []struct {
		name      string
		originals func(blob.Store) blob.Store
		maxBytes  int64
		want      pb.ImageState
		code      string
	}{
		{"local", func(s blob.Store) blob.Store { return s }, size, ready, ""},
		{"remote", func(s blob.Store) blob.Store { return remoteStore{s} }, size, ready, ""},
		{"remote, too large", func(s blob.Store) blob.Store { return remoteStore{s} }, size - 1, failed, failure.TooLarge},
		{"remote, size not told, too large", func(s blob.Store) blob.Store { return unsizedStore{s} }, size - 1, failed, failure.TooLarge},
		{"local, too large", func(s blob.Store) blob.Store { return s }, size - 1, failed, failure.TooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			r := newRig(t, nil, func(cfg *processor.Config) { cfg.TempDir, cfg.MaxOriginalBytes = tmp, c.maxBytes })
			id := r.submit(t, "dandelion.jpg")
			p := r.procWith(t, c.originals(r.originals))
			p.Handle(context.Background(), r.receive(t))
			if img := r.state(t, id); img.GetState() != c.want || img.GetError().GetCode() != c.code {
				t.Errorf("%s %v, want %s %q", img.GetState(), img.GetError(), c.want, c.code)
			}
			if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
				t.Errorf("temporary directory after the job: %v, %v; want it empty", left, err)
			}
			if open := openFilesUnder(t, tmp); len(open) != 0 {
				t.Errorf("files in the temporary directory still open after the job: %v", open)
			}
		})
	}
}

// openFilesUnder lists the files under dir this process has open, removed
// or not (Linux; nothing elsewhere).
func openFilesUnder(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var open []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			open = append(open, target)
		}
	}
	return open
}

// unsizedStore is a remote store that does not tell an object's size
// before it is read.
type unsizedStore struct{ blob.Store }

func (s unsizedStore) Get(ctx context.Context, key string) (io.ReadCloser, blob.Attrs, error) {
	rc, a, err := s.Store.Get(ctx, key)
	a.Size = -1
	return rc, a, err
}
