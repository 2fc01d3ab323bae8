package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Report is one run: the machine, the versions, and each phase measured.
type Report struct {
	Date     time.Time     `json:"date"`
	Machine  [][2]string   `json:"machine"`
	Settings Settings      `json:"settings"`
	Get      *GetResult    `json:"get,omitempty"`
	Upload   *UploadResult `json:"upload,omitempty"`
	Large    *LargeResult  `json:"large,omitempty"`
}

// Settings are the run's knobs as the report states them.
type Settings struct {
	Duration      string `json:"duration"`
	Rounds        int    `json:"rounds"`
	Variant       string `json:"variant"`
	GetWorkers    int    `json:"get_workers"`
	UploadWorkers int    `json:"upload_workers"`
	UploadRate    int    `json:"upload_rate"`
	LargeRounds   int    `json:"large_rounds"`
}

// Run measures the phases cfg asks for.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if _, err := os.Stat(cfg.Imagepipe); err != nil {
		return nil, fmt.Errorf("imagepipe binary: %w (make build makes bin/imagepipe)", err)
	}
	if !cfg.Skip["get"] {
		n, err := findNginx(cfg.Nginx)
		if err != nil {
			return nil, err
		}
		cfg.Nginx = n
	}
	dir, err := os.MkdirTemp(cfg.WorkDir, "imagepipe-bench-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rep := &Report{Date: time.Now().UTC(), Settings: Settings{
		Duration: cfg.Duration.String(), Rounds: cfg.Rounds, Variant: cfg.Variant, GetWorkers: cfg.GetWorkers,
		UploadWorkers: cfg.UploadWorkers, UploadRate: cfg.UploadRate, LargeRounds: cfg.LargeRounds,
	}}
	load0 := loadAvg()
	// The large uploads go first: the other phases leave the processor's
	// work and thousands of files' writeback behind them, which would be
	// charged to imagepipe's side of the comparison and not to dd's.
	if !cfg.Skip["large"] {
		if rep.Large, err = runLarge(ctx, cfg, dir); err != nil {
			return nil, fmt.Errorf("large-upload phase: %w", err)
		}
	}
	if !cfg.Skip["get"] {
		if rep.Get, err = runGet(ctx, cfg, dir); err != nil {
			return nil, fmt.Errorf("GET phase: %w", err)
		}
	}
	if !cfg.Skip["upload"] {
		if rep.Upload, err = runUpload(ctx, cfg, dir); err != nil {
			return nil, fmt.Errorf("upload phase: %w", err)
		}
	}
	rep.Machine = machine(cfg, dir, load0)
	return rep, nil
}

func findNginx(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx not found: install nginx-light (make bench-load does), or -skip get")
}

// machine describes the machine and the versions measured.
func machine(cfg Config, dir, load0 string) [][2]string {
	m := [][2]string{
		{"CPU", fmt.Sprintf("%s, %d cores", cpuModel(), runtime.NumCPU())},
		{"RAM", fmt.Sprintf("%.1f GiB", float64(meminfoKB("MemTotal:"))/(1<<20))},
		{"OS, kernel", osName() + ", Linux " + firstLine(readFile("/proc/sys/kernel/osrelease"))},
		{"disk", "data directories and dd's output: " + fsOf(dir)},
		{"imagepipe", imagepipeVersion()},
	}
	goVersion, govips := binaryVersions(cfg.Imagepipe)
	m = append(m,
		[2]string{"go", goVersion},
		[2]string{"libvips", "libvips " + firstLine(cmdOut("pkg-config", "--modversion", "vips")) + ", govips " + govips},
	)
	if cfg.Nginx != "" {
		m = append(m, [2]string{"nginx", strings.TrimPrefix(firstLine(cmdOut(cfg.Nginx, "-v")), "nginx version: ")})
	}
	m = append(m,
		[2]string{"dd", firstLine(cmdOut("dd", "--version"))},
		[2]string{"load generator", "vegeta " + moduleVersion("github.com/tsenart/vegeta/v12") + " as a library, on the same machine"},
		[2]string{"load average", fmt.Sprintf("%s at the start, %s at the end (1, 5, 15 minutes)", load0, loadAvg())},
	)
	return m
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return "unknown"
	}
	return s
}

func cmdOut(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	return string(out)
}

func cpuModel() string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func meminfoKB(key string) int64 {
	for _, line := range strings.Split(readFile("/proc/meminfo"), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			var n int64
			fmt.Sscan(rest, &n)
			return n
		}
	}
	return 0
}

func osName() string {
	for _, line := range strings.Split(readFile("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

func loadAvg() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// fsOf names the filesystem holding dir: the longest mount point that
// contains it.
func fsOf(dir string) string {
	best, desc := "", "unknown filesystem"
	for _, line := range strings.Split(readFile("/proc/mounts"), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, desc = mp, fmt.Sprintf("%s (%s)", f[2], f[0])
		}
	}
	return desc
}

// imagepipeVersion is the commit of the working tree measured.
func imagepipeVersion() string {
	rev := strings.TrimSpace(cmdOut("git", "rev-parse", "--short", "HEAD"))
	if rev == "" || strings.Contains(rev, " ") {
		return "unknown commit"
	}
	if strings.TrimSpace(cmdOut("git", "status", "--porcelain", "--untracked-files=no")) != "" {
		rev += " with uncommitted changes"
	}
	return rev
}

// binaryVersions reads the Go version and govips' version from the
// imagepipe binary's build information.
func binaryVersions(bin string) (goVersion, govips string) {
	goVersion, govips = "unknown", "unknown"
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return
	}
	goVersion = bi.GoVersion
	for _, d := range bi.Deps {
		if d.Path == "github.com/davidbyttow/govips/v2" {
			govips = d.Version
		}
	}
	return
}

func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

// Markdown renders the report: the machine, then one table a phase.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("Run %s, -duration %s.", r.Date.Format("2006-01-02 15:04 UTC"), r.Settings.Duration)
	p("")
	p("| machine | |")
	p("|---|---|")
	for _, kv := range r.Machine {
		p("| %s | %s |", kv[0], kv[1])
	}
	if g := r.Get; g != nil {
		ip, ng := g.Rows[0], g.Rows[1]
		p("")
		p("#### Variant GETs: `GET /a/{id}/%s` (%d bytes, %s), %d connections, %d alternating rounds of %.1f s each",
			r.Settings.Variant, g.Bytes, g.ContentType, r.Settings.GetWorkers, r.Settings.Rounds, ip.Seconds/float64(r.Settings.Rounds))
		p("")
		p("| server | req/s | × nginx | p50 ms | p99 ms | max ms | errors | server CPU µs/req | × nginx | RSS MiB idle → peak | load generator, cores |")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, x := range g.Rows {
			p("| %s | %.0f | %.2f× | %.2f | %.2f | %.1f | %d | %.1f | %.2f× | %.1f → %.1f | %.2f |",
				x.Name, x.RPS, ratio(x.RPS, ng.RPS), x.P50ms, x.P99ms, x.MaxMs, x.Errors+x.TooMany,
				x.ServerCPUus, ratio(x.ServerCPUus, ng.ServerCPUus), x.IdleRSSMiB, x.PeakRSSMiB, x.ClientCores)
		}
		errorLines(p, ip, ng)
	}
	if u := r.Upload; u != nil {
		x := u.Row
		rate := "as fast as they go"
		if r.Settings.UploadRate > 0 {
			rate = fmt.Sprintf("at %d/s", r.Settings.UploadRate)
		}
		p("")
		p("#### Sustained uploads: `POST /v1/images?preset=default&wait=0s`, %d JPEGs in turn (mean %.1f KB), %d workers %s, %.1f s",
			len(u.Photos), float64(u.Bytes)/1000, r.Settings.UploadWorkers, rate, x.Seconds)
		p("")
		p("| server | uploads/s (2xx) | p50 ms | p99 ms | max ms | 429 | errors | server CPU µs/upload | RSS MiB idle → peak | load generator, cores |")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		p("| %s | %.0f | %.2f | %.2f | %.1f | %d | %d | %.0f | %.1f → %.1f | %.2f |",
			x.Name, x.RPS, x.P50ms, x.P99ms, x.MaxMs, x.TooMany, x.Errors, x.ServerCPUus, x.IdleRSSMiB, x.PeakRSSMiB, x.ClientCores)
		errorLines(p, x)
	}
	if l := r.Large; l != nil {
		up, dd := l.Rows[0], l.Rows[1]
		p("")
		p("#### One %d MB upload against `dd bs=1M conv=fsync` of the same file to the same disk, %d alternating rounds, medians",
			l.Bytes/1_000_000, r.Settings.LargeRounds)
		p("")
		p("| writer | MB/s | × dd | s | server CPU s | load generator CPU s | RSS MiB idle, largest rise until the answer | every round, MB/s |")
		p("|---|---:|---:|---:|---:|---:|---:|---|")
		p("| imagepipe (`POST /v1/images`, %s) | %.0f | %.2f× | %.2f | %.2f | %.2f | %.1f, +%.1f | %s |",
			up.Note, up.MedianMBps, ratio(up.MedianMBps, dd.MedianMBps), up.MedianSecs, up.ServerCPU, up.ClientCPU, up.IdleRSSMiB, up.RiseMiB, joinF(up.MBps))
		p("| dd | %.0f | 1.00× | %.2f | – | – | – | %s |", dd.MedianMBps, dd.MedianSecs, joinF(dd.MBps))
	}
	return strings.TrimRight(b.String(), "\n")
}

func errorLines(p func(string, ...any), rows ...Row) {
	for _, x := range rows {
		if len(x.ErrorSample) > 0 {
			p("")
			p("%s's errors: %s", x.Name, strings.Join(x.ErrorSample, "; "))
		}
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func joinF(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, ", ")
}

// The generated section of docs/BENCHMARKS.md lies between these markers.
const (
	docBegin = "<!-- bench-load:begin (generated by scripts/bench/load; edit outside these markers) -->"
	docEnd   = "<!-- bench-load:end -->"
)

// WriteDoc replaces the text between the markers with md, or appends a
// section with the markers when the file has none.
func WriteDoc(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	text := string(b)
	block := docBegin + "\n" + md + "\n" + docEnd
	head, rest, hasBegin := strings.Cut(text, docBegin)
	_, tail, hasEnd := strings.Cut(rest, docEnd)
	switch {
	case hasBegin && hasEnd:
		text = head + block + tail
	case hasBegin || strings.Contains(text, docEnd):
		return fmt.Errorf("%s: one bench-load marker without the other (or in the wrong order)", path)
	default:
		if text == "" {
			text = "# Benchmarks\n"
		}
		text = strings.TrimRight(text, "\n") + "\n\n## Under load (`make bench-load`)\n\n" + block + "\n"
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
