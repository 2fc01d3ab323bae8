package cli

import (
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress shows an upload run on stderr: bars on a terminal, plain lines
// otherwise, nothing for -json.
type progress interface {
	// start shows a file whose upload begins; wrap its reader with the
	// result's reader.
	start(name string, size int64) fileProgress
	// finished counts a file as done (uploaded, skipped or failed) with
	// its outcome; fp is its upload's display, nil if it was not sent.
	finished(name string, size int64, outcome string, fp fileProgress)
	// logf prints a line without disturbing the bars.
	logf(format string, args ...any)
	// close ends the display; call once, after every file is done.
	close()
}

// fileProgress is one upload in flight.
type fileProgress interface {
	reader(r io.Reader) io.Reader
	// end removes the file's bar: done, or abandoned.
	end(done bool)
}

// newProgress picks the display for stderr. With bytes 0 the total bar
// counts files only (waiting for processing).
func newProgress(stderr io.Writer, quiet bool, label string, files int, bytes int64) progress {
	if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return newBarProgress(f, label, files, bytes)
	}
	return &lineProgress{w: stderr, quiet: quiet, total: files}
}

// lineProgress prints one line per finished file.
type lineProgress struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool // errors only
	total int
	done  int
}

type plainFile struct{}

func (plainFile) reader(r io.Reader) io.Reader { return r }
func (plainFile) end(bool)                     {}

func (p *lineProgress) start(string, int64) fileProgress { return plainFile{} }

func (p *lineProgress) finished(name string, size int64, outcome string, _ fileProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	switch {
	case p.quiet:
	case size > 0:
		fmt.Fprintf(p.w, "[%d/%d] %s %s (%s)\n", p.done, p.total, outcome, name, humanBytes(size))
	default:
		fmt.Fprintf(p.w, "[%d/%d] %s %s\n", p.done, p.total, outcome, name)
	}
}

func (p *lineProgress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *lineProgress) close() {}

// barProgress draws one bar per upload in flight (bytes, name, speed) and a
// total bar (files and bytes) with mpb.
type barProgress struct {
	p      *mpb.Progress
	total  *mpb.Bar
	files  atomic.Int64
	counts bool // the total bar counts files, not bytes
}

func newBarProgress(w io.Writer, label string, files int, bytes int64) *barProgress {
	bp := &barProgress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32)), counts: bytes == 0}
	appended := []decor.Decorator{
		decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace),
		decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace),
	}
	if bp.counts {
		bytes = int64(files)
		appended = []decor.Decorator{decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace)}
	}
	bp.total = bp.p.AddBar(bytes,
		mpb.BarPriority(math.MaxInt32), // always the bottom line
		mpb.PrependDecorators(
			decor.Name(label, decor.WCSyncSpaceR),
			decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%d/%d files", bp.files.Load(), files) }, decor.WCSyncSpaceR),
		),
		mpb.AppendDecorators(appended...),
	)
	return bp
}

// shortName keeps the end of a long path, which tells files apart.
func shortName(name string) string {
	const max = 40
	if r := []rune(name); len(r) > max {
		return "…" + string(r[len(r)-max+1:])
	}
	return name
}

type barFile struct {
	bp   *barProgress
	bar  *mpb.Bar
	size int64
	read atomic.Int64
}

func (bp *barProgress) start(name string, size int64) fileProgress {
	bar := bp.p.AddBar(size, mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(
			decor.Name(shortName(name), decor.WCSyncSpaceR),
			decor.Name("", decor.WCSyncSpaceR), // keeps the files column aligned with the total bar
		),
		mpb.AppendDecorators(
			decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace),
			decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30, decor.WCSyncSpace),
		),
	)
	return &barFile{bp: bp, bar: bar, size: size}
}

// countingReader counts the bytes it reads toward the total bar.
type countingReader struct {
	r io.Reader
	f *barFile
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.f.read.Add(int64(n))
		c.f.bp.total.IncrBy(n)
	}
	return n, err
}

func (f *barFile) reader(r io.Reader) io.Reader {
	return countingReader{r: f.bar.ProxyReader(r), f: f}
}

func (f *barFile) end(done bool) {
	if done {
		f.bar.SetTotal(-1, true)
		return
	}
	f.bar.Abort(true)
}

func (bp *barProgress) finished(_ string, size int64, _ string, fp fileProgress) {
	bp.files.Add(1)
	if bp.counts {
		bp.total.Increment()
		return
	}
	// A file counts whole toward the total bytes; an upload already
	// counted what it sent.
	if f, ok := fp.(*barFile); ok {
		size -= f.read.Load()
	}
	if size > 0 {
		bp.total.IncrInt64(size)
	}
}

func (bp *barProgress) logf(format string, args ...any) {
	fmt.Fprintf(bp.p, format+"\n", args...)
}

func (bp *barProgress) close() {
	bp.total.Abort(false) // no-op once complete; stops it if not every byte was seen
	bp.p.Wait()
}
