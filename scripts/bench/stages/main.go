//go:build ignore

// Stages: where imagepipe's CPU goes for one image, and what the imaging
// knobs change. A measuring tool for docs/BENCHMARKS.md, not part of the
// build (run it with go run, which ignores the build tag):
//
//	go run scripts/bench/stages/main.go stages  [-n 5] FILE...
//	go run scripts/bench/stages/main.go process [-n 3] [-workers W] [-parallelism P] [-concurrency C] [-preset NAME] FILE...
//
// "stages" replays, with govips and step by step, what imaging.Process does
// for the default preset (internal/engine/imaging/process.go, render.go,
// extras.go at the time of writing): decode with shrink-on-load into an
// uncompressed TIFF, reopen it, the extras' 64x64 copy, then per variant
// the resize (forced into memory through an uncompressed TIFF, so it is
// timed apart from the encoder) and the encode. Each stage's CPU time (getrusage, whole process; libvips
// runs one thread here) and wall time are printed as medians over -n runs.
//
// "process" calls the real imaging.Process with an imaging.Config of your
// choice (variant parallelism, libvips threads per pipeline) over the
// files, -n times, and prints CPU seconds, wall seconds and peak RSS.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/services/processor"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stages stages|process [flags] FILE...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "stages":
		stages(os.Args[2:])
	case "process":
		process(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: stages stages|process [flags] FILE...")
		os.Exit(2)
	}
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSS() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss
}

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return v
}

func params() *vips.ImportParams {
	p := vips.NewImportParams()
	p.FailOnError.Set(true)
	return p
}

// timer accumulates CPU and wall time per stage.
type timer struct {
	order []string
	cpu   map[string][]time.Duration
	wall  map[string][]time.Duration
	c0    time.Duration
	w0    time.Time
}

func newTimer() *timer {
	return &timer{cpu: map[string][]time.Duration{}, wall: map[string][]time.Duration{}}
}

func (t *timer) start() { t.c0, t.w0 = cpuNow(), time.Now() }

func (t *timer) lap(name string) {
	c, w := cpuNow(), time.Now()
	if _, ok := t.cpu[name]; !ok {
		t.order = append(t.order, name)
	}
	t.cpu[name] = append(t.cpu[name], c-t.c0)
	t.wall[name] = append(t.wall[name], w.Sub(t.w0))
	t.c0, t.w0 = c, w
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func inside(w, h, box int) (int, int) {
	s := math.Min(math.Min(float64(box)/float64(w), float64(box)/float64(h)), 1)
	return max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
}

// jpegShrink is vips_thumbnail's JPEG shrink-on-load factor in libvips
// 8.14: the largest of 8, 4, 2 that still leaves the image at least as
// large as the target.
func jpegShrink(w, h, tw, th int) int {
	for _, k := range []int{8, 4, 2} {
		if w/k >= tw && h/k >= th {
			return k
		}
	}
	return 1
}

func tiff(img *vips.ImageRef) []byte {
	raw, _, err := img.ExportTiff(&vips.TiffExportParams{StripMetadata: true, Compression: vips.TiffCompressionNone,
		Predictor: vips.TiffPredictorNone, TileWidth: 256, TileHeight: 256})
	return must(raw, err)
}

func stages(args []string) {
	fs := flag.NewFlagSet("stages", flag.ExitOnError)
	n := fs.Int("n", 5, "runs per file")
	_ = fs.Parse(args)
	vips.LoggingSettings(func(string, vips.LogLevel, string) {}, vips.LogLevelError)
	vips.Startup(&vips.Config{ConcurrencyLevel: 1})
	defer vips.Shutdown()

	total := newTimer()
	for _, file := range fs.Args() {
		src := must(os.ReadFile(file))
		hdr := must(vips.LoadImageFromBuffer(src, params()))
		sw, sh := hdr.Width(), hdr.Height()
		hdr.Close()
		jpeg := hdr.Format() == vips.ImageTypeJPEG
		lw, lh := inside(sw, sh, 1600)
		mw, mh := inside(sw, sh, 800)
		t := newTimer()
		for i := 0; i < *n; i++ {
			t.start()
			// decode: vips_thumbnail (shrink-on-load) evaluated into a TIFF.
			thumb := must(vips.LoadThumbnailFromBuffer(src, lw, lh, vips.InterestingNone, vips.SizeDown, params()))
			raw := tiff(thumb)
			thumb.Close()
			t.lap("decode (shrink-on-load + resize to 1600, into TIFF)")
			base := must(vips.LoadImageFromBuffer(raw, params()))
			t.lap("reopen decoded TIFF")

			// The decode above split in two (not part of the pipeline):
			// the loader alone at the same shrink-on-load factor, then the
			// resize from there to the base size.
			if jpeg {
				p := params()
				p.JpegShrinkFactor.Set(jpegShrink(sw, sh, lw, lh))
				full := must(vips.LoadImageFromBuffer(src, p))
				fraw := tiff(full)
				full.Close()
				t.lap("  (split) JPEG decode alone at the same 1/N scale")
				r := must(vips.LoadThumbnailFromBuffer(fraw, lw, lh, vips.InterestingNone, vips.SizeDown, nil))
				_ = tiff(r)
				r.Close()
				t.lap("  (split) resize 1/N-decoded -> 1600 (Lanczos3)")
			}

			// extras: 64x64 copy via thumbnail over the TIFF, materialised.
			ex := must(vips.LoadThumbnailFromBuffer(raw, 64, 64, vips.InterestingNone, vips.SizeForce, nil))
			exm := must(vips.LoadImageFromBuffer(tiff(ex), params()))
			ex.Close()
			_ = must(exm.ToBytes())
			_ = exm.ToColorSpace(vips.InterpretationBW)
			_ = exm.Resize(0.5, vips.KernelLanczos3)
			_ = must(exm.ToBytes())
			exm.Close()
			t.lap("extras (64x64 copy, blurhash/phash input)")

			// thumb: 64x64 cover, via thumbnail over the TIFF (shrunk()).
			cw := max(64, int(math.Round(float64(base.Width())*64/float64(base.Height()))))
			ch := max(64, int(math.Round(float64(base.Height())*64/float64(base.Width()))))
			th := must(vips.LoadThumbnailFromBuffer(raw, cw, ch, vips.InterestingNone, vips.SizeForce, nil))
			thm := must(vips.LoadImageFromBuffer(tiff(th), params()))
			th.Close()
			_ = thm.ExtractArea((thm.Width()-64)/2, (thm.Height()-64)/2, 64, 64)
			t.lap("thumb: resize")
			_, _, err := thm.ExportPng(&vips.PngExportParams{StripMetadata: true, Compression: 6, Filter: vips.PngFilterAll})
			must(0, err)
			thm.Close()
			t.lap("thumb: PNG encode")

			// medium: vips_resize over the random-access base, forced into
			// memory (an uncompressed TIFF, ~a memcpy) so that the encoder is
			// timed alone.
			med := must(base.Copy())
			if mw != base.Width() {
				_ = med.Resize(float64(mw)/float64(base.Width()), vips.KernelLanczos3)
			}
			medm := must(vips.LoadImageFromBuffer(tiff(med), params()))
			med.Close()
			t.lap("medium: resize")
			_, _, err = medm.ExportWebp(&vips.WebpExportParams{StripMetadata: true, Quality: 80, ReductionEffort: 4})
			must(0, err)
			medm.Close()
			t.lap("medium: WebP encode")

			lg := must(base.Copy())
			_, _, err = lg.ExportWebp(&vips.WebpExportParams{StripMetadata: true, Quality: 80, ReductionEffort: 4})
			must(0, err)
			lg.Close()
			base.Close()
			t.lap("large: WebP encode")
		}
		fmt.Printf("%s (%dx%d -> %dx%d, %dx%d, 64x64), median of %d:\n", file, sw, sh, lw, lh, mw, mh, *n)
		var sum time.Duration
		for _, k := range t.order {
			if !isSplit(k) {
				sum += median(t.cpu[k])
			}
		}
		for _, k := range t.order {
			c := median(t.cpu[k])
			fmt.Printf("  %-52s cpu %7.1f ms  wall %7.1f ms  %5.1f%%\n", k, ms(c), ms(median(t.wall[k])), 100*float64(c)/float64(sum))
			total.cpu[k] = append(total.cpu[k], c)
			if len(total.cpu[k]) == 1 {
				total.order = append(total.order, k)
			}
		}
		fmt.Printf("  %-52s cpu %7.1f ms\n", "sum", ms(sum))
	}
	if len(fs.Args()) > 1 {
		fmt.Println("all files (sum of medians):")
		var sum time.Duration
		for _, k := range total.order {
			for _, c := range total.cpu[k] {
				if !isSplit(k) {
					sum += c
				}
			}
		}
		for _, k := range total.order {
			var s time.Duration
			for _, c := range total.cpu[k] {
				s += c
			}
			fmt.Printf("  %-52s cpu %7.1f ms  %5.1f%%\n", k, ms(s), 100*float64(s)/float64(sum))
		}
	}
}

// isSplit reports whether a stage is a breakdown of another (not summed).
func isSplit(stage string) bool { return strings.HasPrefix(stage, "  (split)") }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func process(args []string) {
	fs := flag.NewFlagSet("process", flag.ExitOnError)
	n := fs.Int("n", 3, "runs over the files")
	par := fs.Int("parallelism", 0, "imaging.Config.Parallelism (0: default)")
	conc := fs.Int("concurrency", 0, "imaging.Config.Concurrency: libvips threads per pipeline (0: default, 1)")
	cacheOps := fs.Int("cache-ops", 0, "imaging.Config.CacheMaxOps")
	cacheMem := fs.Int("cache-mem", 0, "imaging.Config.CacheMaxMemBytes")
	preset := fs.String("preset", "default", "preset")
	workers := fs.Int("workers", 1, "images processed at once (the processor's workers)")
	_ = fs.Parse(args)
	imaging.Startup(imaging.Config{Parallelism: *par, Concurrency: *conc, CacheMaxOps: *cacheOps, CacheMaxMemBytes: *cacheMem})
	presets := spec.Builtin()
	_, s, err := presets.Resolve("", *preset, nil)
	must(0, err)
	variants, lim := presets.Variants(s), spec.Limits(s, processor.DefaultConfig().Limits)
	srcs := make([][]byte, 0, len(fs.Args()))
	for _, f := range fs.Args() {
		srcs = append(srcs, must(os.ReadFile(f)))
	}
	var (
		mu             sync.Mutex
		decode, render time.Duration
		wg             sync.WaitGroup
		jobs           = make(chan []byte)
	)
	c0, w0 := cpuNow(), time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for src := range jobs {
				res, err := imaging.Process(context.Background(), src, variants, lim)
				must(0, err)
				mu.Lock()
				decode += res.Decode
				for _, v := range res.Variants {
					render += v.Elapsed
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *n; i++ {
		for _, src := range srcs {
			jobs <- src
		}
	}
	close(jobs)
	wg.Wait()
	cpu, wall := cpuNow()-c0, time.Since(w0)
	k := float64(*n * len(srcs))
	fmt.Printf("workers=%d parallelism=%d concurrency=%d cache=%d/%d: %d images, cpu %.3f s/image, wall %.3f s/image, "+
		"decode %.1f ms/image, variants %.1f ms/image (sum of their wall times), peak RSS %.1f MiB\n",
		*workers, *par, *conc, *cacheOps, *cacheMem, int(k), cpu.Seconds()/k, wall.Seconds()/k,
		ms(decode)/k, ms(render)/k, float64(maxRSS())/1024)
}
