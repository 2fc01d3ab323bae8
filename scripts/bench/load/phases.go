package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Row is one tool's numbers in a request phase.
type Row struct {
	Name     string  `json:"name"`
	Requests uint64  `json:"requests"`
	OK       uint64  `json:"ok"`       // 2xx
	TooMany  uint64  `json:"too_many"` // 429
	Errors   uint64  `json:"errors"`   // every other answer, and failed requests
	Seconds  float64 `json:"seconds"`  // wall time under load, rounds added up
	RPS      float64 `json:"rps"`      // 2xx answers per second
	// Latency of the 2xx answers, milliseconds.
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// CPU the server used per 2xx answer, microseconds, and the load
	// generator's CPU in cores (CPU seconds per wall second).
	ServerCPUus float64  `json:"server_cpu_us"`
	ClientCores float64  `json:"client_cores"`
	IdleRSSMiB  float64  `json:"idle_rss_mib"`
	PeakRSSMiB  float64  `json:"peak_rss_mib"`
	ErrorSample []string `json:"error_sample,omitempty"`
}

// tally adds up the results of one tool's attacks.
type tally struct {
	name                 string
	lat                  vegeta.LatencyMetrics
	req, ok, tooMany     uint64
	errs                 uint64
	samples              []string
	wall, cpu, clientCPU time.Duration
	idle, peak           int64
}

func (t *tally) add(r *vegeta.Result) {
	t.req++
	switch {
	case r.Code >= 200 && r.Code < 300:
		t.ok++
		t.lat.Add(r.Latency)
		return
	case r.Code == http.StatusTooManyRequests:
		t.tooMany++
		return
	}
	t.errs++
	msg := r.Error
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d", r.Code)
	}
	if len(t.samples) < 5 && !slices.Contains(t.samples, msg) {
		t.samples = append(t.samples, msg)
	}
}

func (t *tally) row() Row {
	r := Row{Name: t.name, Requests: t.req, OK: t.ok, TooMany: t.tooMany, Errors: t.errs,
		Seconds: t.wall.Seconds(), ClientCores: t.clientCPU.Seconds() / t.wall.Seconds(),
		IdleRSSMiB: mib(t.idle), PeakRSSMiB: mib(t.peak), ErrorSample: t.samples}
	if t.ok > 0 {
		r.RPS = float64(t.ok) / t.wall.Seconds()
		r.P50ms = ms(t.lat.Quantile(0.50))
		r.P99ms = ms(t.lat.Quantile(0.99))
		r.MaxMs = ms(t.lat.Max)
		r.ServerCPUus = float64(t.cpu.Microseconds()) / float64(t.ok)
	}
	return r
}

func mib(b int64) float64          { return float64(b) / (1 << 20) }
func ms(d time.Duration) float64   { return float64(d) / float64(time.Millisecond) }
func secs(d time.Duration) float64 { return d.Seconds() }

// attack drives p with vegeta for d: workers concurrent requests (one
// connection each, kept alive across rounds by client), at rate per second
// (0: as fast as they go). Measured unless t is nil (a warm-up).
func attack(ctx context.Context, p *proc, client *http.Client, tr vegeta.Targeter, workers, rate int, d time.Duration, t *tally) {
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(workers)),
		vegeta.MaxBody(0), // read and drop the body: no copy per request
	)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var w *window
	if t != nil {
		w = p.measure()
	}
	for r := range atk.Attack(tr, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, p.name) {
		if t != nil {
			t.add(r)
		}
	}
	if t == nil {
		return
	}
	s := w.end()
	t.wall += s.wall
	t.cpu += s.cpu
	t.clientCPU += s.clientCPU
	t.peak = max(t.peak, s.peakRSS)
}

// newClient is a keep-alive HTTP client for workers connections to one
// server, without the transparent gzip Go's transport would ask for.
func newClient(workers int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: workers,
			MaxConnsPerHost:     workers,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// upload POSTs body to imagepipe and decodes the answer.
func (ip *imagepipe) upload(ctx context.Context, body io.Reader, size int64, query string) (image, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ip.base+"/v1/images?"+query, body)
	if err != nil {
		return image{}, 0, err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+ip.key)
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return image{}, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var img image
	if resp.StatusCode/100 == 2 {
		err = json.Unmarshal(b, &img)
	} else {
		err = fmt.Errorf("upload: HTTP %d: %s", resp.StatusCode, b)
	}
	return img, resp.StatusCode, err
}

type image struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// waitSettled polls the image until it is READY or FAILED, so its
// processing does not overlap the next measurement.
func (ip *imagepipe) waitSettled(ctx context.Context, id string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ip.base+"/v1/images/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+ip.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		var img image
		err = json.NewDecoder(resp.Body).Decode(&img)
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("image %s: %w", id, err)
		}
		if img.State == "IMAGE_STATE_READY" || img.State == "IMAGE_STATE_FAILED" {
			return img.State, nil
		}
		if time.Now().After(deadline) {
			return img.State, fmt.Errorf("image %s still %s after %s", id, img.State, timeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, url string) ([]byte, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return b, resp.Header.Get("Content-Type"), err
}

// GetResult is the GET phase: imagepipe and nginx serving the same bytes.
type GetResult struct {
	Rows        []Row  `json:"rows"`
	Bytes       int    `json:"bytes"`
	ContentType string `json:"content_type"`
}

// runGet uploads the photo, waits for READY, puts its variant's bytes
// where nginx serves them, then drives the two in alternating rounds
// (the order flips every round, so neither always goes first).
func runGet(ctx context.Context, cfg Config, dir string) (*GetResult, error) {
	photo, err := os.ReadFile(filepath.Join(cfg.Photos, cfg.GetPhoto))
	if err != nil {
		return nil, err
	}
	ip, err := startImagepipe(ctx, cfg, filepath.Join(dir, "get"))
	if err != nil {
		return nil, err
	}
	defer ip.stop(10 * time.Second)
	img, code, err := ip.upload(ctx, bytes.NewReader(photo), int64(len(photo)), "preset=default&wait=60s")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK || img.State != "IMAGE_STATE_READY" {
		return nil, fmt.Errorf("upload of %s: HTTP %d, %s", cfg.GetPhoto, code, img.State)
	}
	ipURL := ip.base + "/a/" + img.ID + "/" + cfg.Variant
	body, ctype, err := get(ctx, ipURL)
	if err != nil {
		return nil, err
	}

	ng, err := startNginx(ctx, cfg.Nginx, filepath.Join(dir, "nginx"))
	if err != nil {
		return nil, err
	}
	defer ng.stop(5 * time.Second)
	name := cfg.Variant + extension(ctype)
	if err := os.WriteFile(filepath.Join(dir, "nginx", "www", name), body, 0o644); err != nil {
		return nil, err
	}
	ngURL := ng.base + "/" + name
	same, _, err := get(ctx, ngURL)
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	if !bytes.Equal(same, body) {
		return nil, fmt.Errorf("nginx serves other bytes than imagepipe (%d against %d)", len(same), len(body))
	}

	type side struct {
		p      *proc
		client *http.Client
		tr     vegeta.Targeter
		t      *tally
	}
	sides := []side{
		{ip.proc, newClient(cfg.GetWorkers), vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: ipURL}), &tally{name: "imagepipe", idle: ip.rss()}},
		{ng.proc, newClient(cfg.GetWorkers), vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: ngURL}), &tally{name: "nginx", idle: ng.rss()}},
	}
	warm := min(time.Second, cfg.Duration/10)
	for _, s := range sides {
		attack(ctx, s.p, s.client, s.tr, cfg.GetWorkers, 0, warm, nil)
	}
	round := cfg.Duration / time.Duration(cfg.Rounds)
	for r := 0; r < cfg.Rounds; r++ {
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			s := sides[i]
			logf("GET round %d/%d: %s, %d connections, %s", r+1, cfg.Rounds, s.t.name, cfg.GetWorkers, round)
			attack(ctx, s.p, s.client, s.tr, cfg.GetWorkers, 0, round, s.t)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	return &GetResult{Rows: []Row{sides[0].t.row(), sides[1].t.row()}, Bytes: len(body), ContentType: ctype}, nil
}

func extension(ctype string) string {
	switch ctype {
	case "image/webp":
		return ".webp"
	case "image/png":
		return ".png"
	case "image/avif":
		return ".avif"
	case "image/gif":
		return ".gif"
	}
	return ".jpg"
}

// UploadResult is the sustained-upload phase.
type UploadResult struct {
	Row    Row      `json:"row"`
	Photos []string `json:"photos"`
	Bytes  int      `json:"mean_bytes"`
}

// runUpload POSTs the small JPEGs of -photos in turn for -duration.
func runUpload(ctx context.Context, cfg Config, dir string) (*UploadResult, error) {
	paths, _ := filepath.Glob(filepath.Join(cfg.Photos, "*.jpg"))
	var targets []vegeta.Target
	var names []string
	total := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > cfg.UploadMaxSize {
			continue
		}
		names = append(names, filepath.Base(p))
		total += len(b)
		targets = append(targets, vegeta.Target{Method: http.MethodPost, Body: b})
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no JPEG of at most %d bytes in %s", cfg.UploadMaxSize, cfg.Photos)
	}
	ip, err := startImagepipe(ctx, cfg, filepath.Join(dir, "upload"))
	if err != nil {
		return nil, err
	}
	// The processor is still working through the queue: no need to wait.
	defer ip.stop(5 * time.Second)
	h := http.Header{"Authorization": {"Bearer " + ip.key}, "Content-Type": {"image/jpeg"}}
	for i := range targets {
		targets[i].URL = ip.base + "/v1/images?preset=default&wait=0s"
		targets[i].Header = h
	}
	t := &tally{name: "imagepipe", idle: ip.rss()}
	rate := "as fast as they go"
	if cfg.UploadRate > 0 {
		rate = fmt.Sprintf("%d/s", cfg.UploadRate)
	}
	logf("uploads: %d workers, %s, %s", cfg.UploadWorkers, rate, cfg.Duration)
	attack(ctx, ip.proc, newClient(cfg.UploadWorkers), vegeta.NewStaticTargeter(targets...), cfg.UploadWorkers, cfg.UploadRate, cfg.Duration, t)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &UploadResult{Row: t.row(), Photos: names, Bytes: total / len(targets)}, nil
}

// IngestRow is one side of the large-upload phase.
type IngestRow struct {
	Name       string    `json:"name"`
	MBps       []float64 `json:"mb_per_s"` // every round, MB = 10^6 bytes
	MedianMBps float64   `json:"median_mb_per_s"`
	MedianSecs float64   `json:"median_seconds"`
	ServerCPU  float64   `json:"server_cpu_s"` // median, imagepipe only
	ClientCPU  float64   `json:"client_cpu_s"` // median, the load generator's, imagepipe only
	// imagepipe's RSS before an upload (median; a fresh server each
	// round), and its largest rise until the answer.
	IdleRSSMiB float64 `json:"idle_rss_mib"`
	RiseMiB    float64 `json:"rss_rise_mib"`
	Note       string  `json:"note,omitempty"`
}

// LargeResult is the large-upload phase.
type LargeResult struct {
	Bytes int64       `json:"bytes"`
	Rows  []IngestRow `json:"rows"` // imagepipe, dd
}

// runLarge times one large upload against dd conv=fsync of the same file
// to the same disk, in alternating rounds; before each, warmPages so
// neither pays for the other's dirty pages or gets fresher memory. Each upload goes to a fresh server
// (a process that has processed a large original keeps the memory, which
// would hide what the upload itself takes), which is stopped once the
// image is processed.
func runLarge(ctx context.Context, cfg Config, dir string) (*LargeResult, error) {
	size := int64(cfg.LargeMB) * 1_000_000
	src := filepath.Join(dir, "large.jpg")
	if err := makeLarge(src, filepath.Join(cfg.Photos, cfg.GetPhoto), size); err != nil {
		return nil, err
	}
	up := IngestRow{Name: "imagepipe"}
	dd := IngestRow{Name: "dd"}
	var upSecs, ddSecs, cpu, clientCPU, idle []float64
	var rise int64
	for r := 0; r < cfg.LargeRounds; r++ {
		steps := []string{"dd", "upload"}
		if r%2 == 1 {
			steps = []string{"upload", "dd"}
		}
		for _, s := range steps {
			logf("large round %d/%d: %s of %d MB", r+1, cfg.LargeRounds, s, cfg.LargeMB)
			warm := func() error { return warmPages(dir, size) }
			if s == "dd" {
				if err := warm(); err != nil {
					return nil, err
				}
				d, err := runDD(ctx, src, filepath.Join(dir, "dd.out"))
				if err != nil {
					return nil, err
				}
				ddSecs = append(ddSecs, secs(d))
				dd.MBps = append(dd.MBps, float64(size)/1e6/secs(d))
				continue
			}
			sp, state, err := largeRound(ctx, cfg, filepath.Join(dir, fmt.Sprintf("large-%d", r)), src, size, warm)
			if err != nil {
				return nil, err
			}
			up.Note = "processed: " + strings.TrimPrefix(state, "IMAGE_STATE_")
			upSecs = append(upSecs, secs(sp.wall))
			cpu = append(cpu, secs(sp.cpu))
			clientCPU = append(clientCPU, secs(sp.clientCPU))
			idle = append(idle, mib(sp.startRSS))
			up.MBps = append(up.MBps, float64(size)/1e6/secs(sp.wall))
			rise = max(rise, sp.peakRSS-sp.startRSS)
		}
	}
	up.MedianMBps, up.MedianSecs, up.ServerCPU, up.ClientCPU = median(up.MBps), median(upSecs), median(cpu), median(clientCPU)
	up.IdleRSSMiB, up.RiseMiB = median(idle), mib(rise)
	dd.MedianMBps, dd.MedianSecs = median(dd.MBps), median(ddSecs)
	return &LargeResult{Bytes: size, Rows: []IngestRow{up, dd}}, nil
}

// warmPages writes and removes a scratch file a little larger than the
// large upload, after sync(2), so that each writer starts with the same
// dirty-page state and with memory just freed by the page cache.
//
// Why: on a virtual machine whose balloon reports free pages to the host
// (virtio-balloon free page reporting, as on this project's Firecracker
// machines), a page freed for more than about 2 s goes back to the host,
// and the next write to it faults there first. Measured here: dd of 200
// MB to a new file ran at 259-284 MB/s 3 s after the previous file was
// removed, and at 805-833 MB/s right after. Without this, whichever
// writer happened to follow a removal won by 3x.
func warmPages(dir string, size int64) error {
	syscall.Sync()
	scratch := filepath.Join(dir, "warm.scratch")
	f, err := os.Create(scratch)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for n := int64(0); n < size+size/4; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Remove(scratch); err != nil {
		return err
	}
	syscall.Sync()
	return nil
}

// largeRound starts a server in dir, calls prepare, uploads src to the
// server, and stops it once the image is processed.
func largeRound(ctx context.Context, cfg Config, dir, src string, size int64, prepare func() error) (span, string, error) {
	defer os.RemoveAll(dir)
	ip, err := startImagepipe(ctx, cfg, dir, fmt.Sprintf("IMAGEPIPE_INGEST_MAX_BYTES=%d", size+1<<20))
	if err != nil {
		return span{}, "", err
	}
	defer ip.stop(10 * time.Second)
	if err := prepare(); err != nil {
		return span{}, "", err
	}
	return largeUpload(ctx, ip, src, size)
}

// makeLarge writes a JPEG followed by random bytes up to size: accepted
// by the format check, incompressible, written once so both sides read
// it from the page cache.
func makeLarge(path, photo string, size int64) error {
	head, err := os.ReadFile(photo)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(head); err != nil {
		f.Close()
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size-int64(len(head))); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runDD(ctx context.Context, src, dst string) (time.Duration, error) {
	defer os.Remove(dst)
	start := time.Now()
	out, err := exec.CommandContext(ctx, "dd", "if="+src, "of="+dst, "bs=1M", "conv=fsync", "status=none").CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("dd: %v: %s", err, out)
	}
	return d, nil
}

// largeUpload streams the file to POST /v1/images (wait=0s: the answer
// comes once the original is stored and its job queued), then waits for
// the processing to end.
func largeUpload(ctx context.Context, ip *imagepipe, src string, size int64) (span, string, error) {
	f, err := os.Open(src)
	if err != nil {
		return span{}, "", err
	}
	defer f.Close()
	w := ip.measure()
	// The file itself is the body, so that the HTTP client sends it with
	// sendfile(2): a client on another machine costs this one nothing,
	// while this load generator shares the server's two cores (dd has no
	// such neighbour). RSS is therefore sampled until the answer, not
	// until the body's end: the processor may start on the image just
	// before the answer arrives.
	body := f
	img, code, err := ip.upload(ctx, body, size, "preset=default&wait=0s")
	sp := w.end()
	if err != nil {
		return sp, "", err
	}
	if code != http.StatusAccepted && code != http.StatusOK {
		return sp, "", fmt.Errorf("large upload: HTTP %d", code)
	}
	state, err := ip.waitSettled(ctx, img.ID, 5*time.Minute)
	return sp, state, err
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
