package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/services/ingest"
	"github.com/imagepipe/imagepipe/services/processor"
	"google.golang.org/protobuf/encoding/protojson"
)

func init() {
	register("process", "run the processor's pipeline on local files: [-preset NAME | -spec FILE_OR_JSON] -o DIR FILE...", processCmd)
}

// maxSpecFileBytes bounds a -spec file (a spec is a few hundred bytes).
const maxSpecFileBytes = 1 << 20

// processOptions are the parsed flags of `imagepipe process`.
type processOptions struct {
	preset, spec, presets, outDir string
	json                          bool
	repeat, workers, jobThreads   int
}

// processCmd runs exactly what a processor worker runs for one job — the
// presets as the server loads them, spec validation and Variants with them,
// spec.Limits over the processor's default limits, imaging.Process under
// the processor's job timeout — on local files, and writes the variants to
// DIR/<file stem>/<variant>.<ext>. It is the way to try a spec or a presets
// file without a server, and the harness of `make bench-processor`.
func processCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	o := &processOptions{}
	fs.StringVar(&o.preset, "preset", "", "preset to apply (default: the default preset)")
	fs.StringVar(&o.spec, "spec", "", "inline ProcessingSpec: JSON text, or the path of a JSON file")
	fs.StringVar(&o.presets, "presets", os.Getenv("IMAGEPIPE_PRESETS"), "presets file (JSON, see spec.LoadPresets) merged over the built-ins, as the server's -presets (env IMAGEPIPE_PRESETS)")
	fs.StringVar(&o.outDir, "o", "", "output directory (required): variants go to DIR/<file stem>/<variant>.<ext>")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per processed file instead of one line per variant")
	fs.IntVar(&o.repeat, "repeat", 1, "process every file this many times (benchmarking); output lines are those of the first run")
	fs.IntVar(&o.workers, "workers", 1, "files processed at once, like the processor's worker pool (IMAGEPIPE_PROCESSOR_WORKERS)")
	fs.IntVar(&o.jobThreads, "job-threads", 1, "threads per file: libvips threads and variants at once, like the processor's IMAGEPIPE_PROCESSOR_JOB_THREADS")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe process [-preset NAME | -spec FILE_OR_JSON] [-presets FILE] -o DIR [flags] FILE...")
		fmt.Fprintln(w, "Runs the processor's pipeline on local files and writes DIR/<file stem>/<variant>.<ext>.")
		fmt.Fprintln(w, "Exit status: 0 all files processed, 1 some file failed, 2 bad usage or spec.")
		fs.PrintDefaults()
	}
	return func(stdout, stderr io.Writer) int {
		files, err := positional(fs)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			return 2 // fs already printed the error
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return runProcess(ctx, o, files, stdout, stderr)
	}
}

// positional returns fs's positional arguments, parsing the flags that
// follow file names too (imagepipe process a.jpg -o out). After "--", and
// for arguments that are not flags of fs (./-x.jpg, -x.jpg), everything is
// a file.
func positional(fs *flag.FlagSet) ([]string, error) {
	var files []string
	rest := fs.Args()
	for len(rest) > 0 {
		a := rest[0]
		switch {
		case a == "--":
			return append(files, rest[1:]...), nil
		case isFlag(fs, a):
			if err := fs.Parse(rest); err != nil {
				return nil, err
			}
			consumed := len(rest) - len(fs.Args())
			terminated := rest[consumed-1] == "--"
			rest = fs.Args()
			if terminated {
				return append(files, rest...), nil
			}
		default:
			files = append(files, a)
			rest = rest[1:]
		}
	}
	return files, nil
}

// isFlag reports whether arg is -name, --name or -name=value for a flag of fs.
func isFlag(fs *flag.FlagSet, arg string) bool {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok {
		return false
	}
	name = strings.TrimPrefix(name, "-")
	name, _, _ = strings.Cut(name, "=")
	return name != "" && (fs.Lookup(name) != nil || name == "h" || name == "help")
}

// pipeline is what the processor would apply to each file.
type pipeline struct {
	presetName string // empty for an inline spec
	presets    *spec.Presets
	spec       *pb.ProcessingSpec
	limits     imaging.Limits
	maxBytes   int64
	jobTimeout time.Duration
}

// resolvePipeline loads the presets as app.New does and resolves the spec
// the way the upload path (ingest) does; the processor then validates and
// converts it with the same presets (processor.process).
func resolvePipeline(o *processOptions) (*pipeline, error) {
	presets := spec.Builtin()
	if o.presets != "" {
		p, err := spec.LoadPresets(o.presets)
		if err != nil {
			return nil, fmt.Errorf("presets: %w", err)
		}
		presets = p
	}
	var inline *pb.ProcessingSpec
	if o.spec != "" {
		s, err := readSpec(o.spec)
		if err != nil {
			return nil, err
		}
		inline = s
	}
	name, s, err := presets.Resolve("", o.preset, inline)
	if err != nil {
		return nil, err
	}
	// Refuse a bad spec up front, naming the field (Render would only say
	// invalid_spec, as the processor records it).
	if err := presets.Validate("spec", s); err != nil {
		return nil, err
	}
	pc := processor.DefaultConfig()
	return &pipeline{
		presetName: name,
		presets:    presets,
		spec:       s,
		limits:     pc.Limits,
		maxBytes:   min(ingest.DefaultConfig().MaxBytes, pc.MaxOriginalBytes),
		jobTimeout: pc.JobTimeout,
	}, nil
}

// readSpec parses -spec: JSON text when it starts with "{", else a file.
func readSpec(arg string) (*pb.ProcessingSpec, error) {
	data := []byte(arg)
	if !strings.HasPrefix(strings.TrimSpace(arg), "{") {
		b, err := readFileLimited(arg, maxSpecFileBytes)
		if err != nil {
			return nil, apperr.InvalidField("spec", "%v", err)
		}
		data = b
	}
	s := &pb.ProcessingSpec{}
	if err := protojson.Unmarshal(data, s); err != nil {
		return nil, apperr.InvalidField("spec", "not a JSON ProcessingSpec: %v", err)
	}
	return s, nil
}

var errTooLarge = errors.New("too large")

// readFileLimited reads a file of at most limit bytes into a buffer sized
// from its length, as the processor reads an original.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := int64(0)
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			return nil, fmt.Errorf("%s: is a directory", path)
		}
		size = st.Size()
	}
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", errTooLarge, size, limit)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// extension is the file extension of a variant's format.
func extension(f imaging.Format) string {
	if f == imaging.FormatJPEG {
		return "jpg"
	}
	return string(f)
}

// stem is a file's name without directory and extension.
func stem(path string) string {
	base := filepath.Base(path)
	if s := strings.TrimSuffix(base, filepath.Ext(base)); s != "" && s != "." {
		return s
	}
	return base
}

// processJob is one run of one file.
type processJob struct {
	index, run int
	file       string
}

// processedFile is the JSON form of one processed file.
type processedFile struct {
	File     string           `json:"file"`
	Preset   string           `json:"preset,omitempty"`
	Source   processedSource  `json:"source"`
	DecodeMS float64          `json:"decode_ms"`
	TotalMS  float64          `json:"total_ms"`
	Variants []processedVar   `json:"variants"`
	Extras   *processedExtras `json:"extras,omitempty"`
}

type processedSource struct {
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Frames int    `json:"frames"`
	Bytes  int    `json:"bytes"`
}

type processedVar struct {
	Name        string  `json:"name"`
	Format      string  `json:"format"`
	ContentType string  `json:"content_type"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	Frames      int     `json:"frames"`
	Quality     int     `json:"quality"`
	Bytes       int     `json:"bytes"`
	MS          float64 `json:"ms"`
	Path        string  `json:"path"`
}

type processedExtras struct {
	BlurHash      string `json:"blurhash"`
	DominantColor string `json:"dominant_color"`
	PHash         string `json:"phash"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runProcess(ctx context.Context, o *processOptions, files []string, stdout, stderr io.Writer) int {
	pl, err := o.prepare(files)
	if err != nil {
		fmt.Fprintf(stderr, "imagepipe process: %v\n", err)
		return 2
	}
	imaging.Startup(imaging.Config{Concurrency: o.jobThreads, Parallelism: o.jobThreads}) // as the processor does (app.New)
	run := &processRun{o: o, pl: pl, stdout: stdout, stderr: stderr, failed: map[int]bool{}}
	start := time.Now()
	run.processAll(ctx, files)
	run.printSummary(len(files), time.Since(start))
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "imagepipe process: interrupted")
		return 1
	}
	if len(run.failed) > 0 {
		return 1
	}
	return 0
}

// prepare checks the flags and files, resolves the pipeline and makes the
// output directory: an error here is bad usage or a bad spec.
func (o *processOptions) prepare(files []string) (*pipeline, error) {
	if err := o.check(files); err != nil {
		return nil, err
	}
	pl, err := resolvePipeline(o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return nil, err
	}
	return pl, nil
}

// check refuses flags out of range, no files, and two files whose
// variants would go to the same directory.
func (o *processOptions) check(files []string) error {
	switch {
	case o.outDir == "":
		return errors.New("-o DIR is required")
	case len(files) == 0:
		return errors.New("no input files")
	case o.repeat < 1:
		return errors.New("-repeat must be at least 1")
	case o.workers < 1 || o.workers > 256:
		return errors.New("-workers must be 1..256")
	case o.jobThreads < 1 || o.jobThreads > 64:
		return errors.New("-job-threads must be 1..64")
	}
	stems := map[string]string{}
	for _, f := range files {
		s := stem(f)
		if prev, dup := stems[s]; dup {
			return fmt.Errorf("%s and %s would both be written to %s: rename one", prev, f, filepath.Join(o.outDir, s))
		}
		stems[s] = f
	}
	return nil
}

// processRun is one `imagepipe process` over its files, -repeat times, on
// -workers workers.
type processRun struct {
	o              *processOptions
	pl             *pipeline
	stdout, stderr io.Writer

	mu     sync.Mutex   // guards output, failed, done
	failed map[int]bool // indexes of the files that failed
	done   int          // runs that succeeded
}

// processAll runs every file o.repeat times on o.workers workers, until
// done or ctx is.
func (r *processRun) processAll(ctx context.Context, files []string) {
	jobs := make(chan processJob)
	var wg sync.WaitGroup
	for range r.o.workers {
		wg.Go(func() {
			for j := range jobs {
				out, err := processOne(ctx, r.pl, r.o.outDir, j.file)
				r.record(j, out, err)
			}
		})
	}
	r.feed(ctx, jobs, files)
	close(jobs)
	wg.Wait()
}

// feed sends every file's runs to jobs, run by run, skipping files that
// failed, until ctx is done.
func (r *processRun) feed(ctx context.Context, jobs chan<- processJob, files []string) {
	for run := 0; run < r.o.repeat; run++ {
		for i, f := range files {
			if r.hasFailed(i) {
				continue // it failed once; it would fail again
			}
			select {
			case jobs <- processJob{index: i, run: run, file: f}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (r *processRun) hasFailed(i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed[i]
}

// record counts a run of a file: a file's first error is printed on
// stderr, its first run's variants on stdout.
func (r *processRun) record(j processJob, out *processedFile, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		if !r.failed[j.index] {
			r.failed[j.index] = true
			fmt.Fprintf(r.stderr, "imagepipe process: %s: %s\n", j.file, describe(err))
		}
	case j.run == 0:
		r.done++
		printProcessed(r.stdout, r.o.json, out)
	default:
		r.done++
	}
}

// printSummary prints, when more than one run was asked for, how many
// files were processed and how fast.
func (r *processRun) printSummary(files int, elapsed time.Duration) {
	if n := files * r.o.repeat; n > 1 {
		fmt.Fprintf(r.stderr, "imagepipe process: %d of %d files processed (%d runs in %.3f s, %.2f images/s, %d workers)\n",
			files-len(r.failed), files, r.done, elapsed.Seconds(), float64(r.done)/elapsed.Seconds(), r.o.workers)
	}
}

// processOne runs the pipeline on one file and writes its variants.
func processOne(ctx context.Context, pl *pipeline, outDir, file string) (*processedFile, error) {
	src, err := readFileLimited(file, pl.maxBytes)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, pl.jobTimeout)
	defer cancel()
	t0 := time.Now()
	res, err := processor.Render(ctx, pl.presets, pl.spec, src, pl.limits)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(outDir, stem(file))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := &processedFile{
		File:   file,
		Preset: pl.presetName,
		Source: processedSource{
			Format: string(res.Source.Format), Width: res.Source.Width, Height: res.Source.Height,
			Frames: res.Source.Frames, Bytes: len(src),
		},
		DecodeMS: ms(res.Decode),
		Extras: &processedExtras{
			BlurHash: res.Extras.BlurHash, DominantColor: res.Extras.DominantColor, PHash: res.Extras.PHashHex(),
		},
	}
	for _, v := range res.Variants {
		path := filepath.Join(dir, v.Name+"."+extension(v.Format))
		if err := writeAtomic(path, v.Data); err != nil {
			return nil, err
		}
		out.Variants = append(out.Variants, processedVar{
			Name: v.Name, Format: string(v.Format), ContentType: v.ContentType,
			Width: v.Width, Height: v.Height, Frames: v.Frames, Quality: v.Quality,
			Bytes: len(v.Data), MS: ms(v.Elapsed), Path: path,
		})
	}
	out.TotalMS = ms(time.Since(t0))
	return out, nil
}

// writeAtomic writes data to path through a temporary file and a rename,
// so a reader (or a concurrent run of the same file) never sees half a file.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// describe formats a file's error: an image the processor refuses shows
// its permanent error code, as the image's status would.
func describe(err error) string {
	var ie *imaging.Error
	switch {
	case errors.As(err, &ie):
		return fmt.Sprintf("refused (%s): %s", ie.Code, ie.Error())
	case errors.Is(err, errTooLarge):
		return fmt.Sprintf("refused (too_large): %v (the service's upload limit)", err)
	case errors.Is(err, context.DeadlineExceeded):
		return "processing took longer than the processor's job timeout"
	default:
		return err.Error()
	}
}

func printProcessed(w io.Writer, asJSON bool, f *processedFile) {
	if asJSON {
		b, _ := json.Marshal(f)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	for _, v := range f.Variants {
		fmt.Fprintf(w, "%s\t%s\t%s\t%dx%d\t%d B\t%.1f ms\n", v.Path, v.Name, v.Format, v.Width, v.Height, v.Bytes, v.MS)
	}
}
