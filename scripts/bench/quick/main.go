//go:build ignore

// Quick: side-by-side measurements of the two data paths of issue 12 §3,
// reproducible in a minute on a small machine. Not part of the build (run
// it with go run, which ignores the build tag); scripts/bench/quick/run.sh
// starts the servers and calls it.
//
//	go run scripts/bench/quick/main.go get [-c 32] [-d 5s] [-rounds 3] [-pids NAME=PID,...] NAME=URL NAME=URL...
//	go run scripts/bench/quick/main.go ingest -file F -dir D -url URL [-token-file K] [-pid P] [-rounds 1]
//
// "get" loads each URL in turn, round after round, with c keep-alive
// connections each sending one request after another (as wrk does: raw
// HTTP/1.1 over TCP, so that the load generator costs little of the
// machine's CPU), and prints req/s per URL and round, then the medians
// and each URL's median as a ratio of the first one's; with -pids, also
// the CPU time each named server used per request (a figure that other
// load on the machine disturbs less than the rate).
//
// "ingest" writes F into D with dd (bs=1M conv=fsync), then POSTs it to URL
// (a raw upload, wait=0), round after round, and prints MB/s for each and
// their ratio; with -pid, also the server's RSS before and its peak during
// the upload (sampled every 10 ms). The processor works on each upload
// once it is stored: run.sh gives every round a fresh server, so that it
// does not during the next round.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: main.go get|ingest ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "get":
		err = runGet(os.Args[2:])
	case "ingest":
		err = runIngest(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quick:", err)
		os.Exit(1)
	}
}

type target struct {
	name string
	u    *url.URL
}

func runGet(args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	conns := fs.Int("c", 32, "connections")
	dur := fs.Duration("d", 5*time.Second, "duration of each measurement")
	rounds := fs.Int("rounds", 3, "rounds (each loads every URL once)")
	pids := fs.String("pids", "", "NAME=PID,...: print the CPU time the process serving NAME used per request")
	_ = fs.Parse(args)
	pidOf := map[string]int{}
	for _, kv := range strings.Split(*pids, ",") {
		if name, v, ok := strings.Cut(kv, "="); ok {
			pidOf[name], _ = strconv.Atoi(v)
		}
	}
	var targets []target
	for _, a := range fs.Args() {
		name, raw, ok := strings.Cut(a, "=")
		u, err := url.Parse(raw)
		if !ok || err != nil || u.Scheme != "http" {
			return fmt.Errorf("%q: want NAME=http://host:port/path", a)
		}
		targets = append(targets, target{name, u})
	}
	if len(targets) == 0 {
		return errors.New("no URL")
	}
	results := make([][]float64, len(targets))
	for r := 0; r < *rounds; r++ {
		for i, t := range targets {
			cpu0 := cpuSeconds(pidOf[t.name])
			rps, err := load(t.u, *conns, *dur)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			results[i] = append(results[i], rps)
			fmt.Printf("round %d  %-10s %9.0f req/s", r+1, t.name, rps)
			if pid := pidOf[t.name]; pid != 0 {
				fmt.Printf("  %5.1f µs CPU/request", (cpuSeconds(pid)-cpu0)/(rps*dur.Seconds())*1e6)
			}
			fmt.Println()
		}
	}
	base := median(results[0])
	for i, t := range targets {
		m := median(results[i])
		fmt.Printf("median   %-10s %9.0f req/s  %.2fx %s\n", t.name, m, m/base, targets[0].name)
	}
	return nil
}

// load sends GETs to u over conns connections for d and returns the rate
// of 200 answers; any other answer is an error.
func load(u *url.URL, conns int, d time.Duration) (float64, error) {
	req := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: quick\r\n\r\n")
	var (
		n     atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(u.Host, req, &n, &stop); err != nil {
				errMu.Lock()
				first = cmpOr(first, err)
				errMu.Unlock()
				stop.Store(true)
			}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// client is one connection: request, answer, again, until stop.
func client(host string, req []byte, n *atomic.Int64, stop *atomic.Bool) error {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return err
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	for !stop.Load() {
		if _, err := c.Write(req); err != nil {
			return err
		}
		if err := readAnswer(br); err != nil {
			return err
		}
		n.Add(1)
	}
	return nil
}

// readAnswer reads one HTTP/1.1 answer with a Content-Length body and
// fails unless it is a 200.
func readAnswer(br *bufio.Reader) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("answer %q", bytes.TrimSpace(status))
	}
	length := int64(-1)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "content-length") {
			length, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return err
			}
		}
	}
	if length < 0 {
		return errors.New("answer without Content-Length")
	}
	_, err = br.Discard(int(length))
	return err
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func runIngest(args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	file := fs.String("file", "", "the body to upload (an image, as far as its first bytes go)")
	dir := fs.String("dir", "", "where dd writes (the disk the server's data is on)")
	rawURL := fs.String("url", "", "POST URL, e.g. http://localhost:8080/v1/images")
	tokenFile := fs.String("token-file", "", "file holding the API key")
	pid := fs.Int("pid", 0, "server process whose RSS to sample")
	rounds := fs.Int("rounds", 1, "rounds")
	_ = fs.Parse(args)
	if *file == "" || *dir == "" || *rawURL == "" {
		return errors.New("-file, -dir and -url are required")
	}
	token := ""
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	fi, err := os.Stat(*file)
	if err != nil {
		return err
	}
	mb := float64(fi.Size()) / 1e6
	var dds, posts []float64
	for r := 0; r < *rounds; r++ {
		ddSecs, err := dd(*file, *dir)
		if err != nil {
			return err
		}
		p, err := post(*rawURL, token, *file, *pid)
		if err != nil {
			return err
		}
		dds, posts = append(dds, mb/ddSecs), append(posts, mb/p.secs)
		fmt.Printf("round %d  dd %7.0f MB/s  POST %7.0f MB/s  %.2fx dd", r+1, mb/ddSecs, mb/p.secs, ddSecs/p.secs)
		if *pid != 0 {
			fmt.Printf("  RSS %d MiB before, peak %d MiB (+%d)  server CPU %.2f s", p.rssBefore>>20, p.rssPeak>>20, (p.rssPeak-p.rssBefore)>>20, p.cpu)
		}
		fmt.Println()
	}
	if *rounds > 1 {
		fmt.Printf("median   dd %7.0f MB/s  POST %7.0f MB/s  %.2fx dd\n", median(dds), median(posts), median(posts)/median(dds))
	}
	return nil
}

// dd copies file into dir as dd bs=1M conv=fsync does, and returns the
// seconds it took.
func dd(file, dir string) (float64, error) {
	out := filepath.Join(dir, "quick-dd.out")
	defer os.Remove(out)
	start := time.Now()
	cmd := exec.Command("dd", "if="+file, "of="+out, "bs=1M", "conv=fsync", "status=none")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("dd: %w", err)
	}
	return time.Since(start).Seconds(), nil
}

type posted struct {
	id                 string
	secs               float64
	rssBefore, rssPeak int64
	cpu                float64 // the server's CPU seconds (user and system) during the upload
}

// post uploads file and times it, sampling the RSS of pid meanwhile.
func post(rawURL, token, file string, pid int) (posted, error) {
	f, err := os.Open(file)
	if err != nil {
		return posted{}, err
	}
	defer f.Close()
	fi, _ := f.Stat()
	req, err := http.NewRequest(http.MethodPost, rawURL+"?wait=0", f)
	if err != nil {
		return posted{}, err
	}
	req.ContentLength = fi.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	var p posted
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	if pid != 0 {
		p.rssBefore = rss(pid)
		peak.Store(p.rssBefore)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if v := rss(pid); v > peak.Load() {
						peak.Store(v)
					}
				}
			}
		}()
	}
	cpu0 := cpuSeconds(pid)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		close(done)
		return posted{}, err
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	p.secs = time.Since(start).Seconds()
	p.cpu = cpuSeconds(pid) - cpu0
	close(done)
	wg.Wait()
	p.rssPeak = peak.Load()
	if resp.StatusCode/100 != 2 {
		return posted{}, fmt.Errorf("POST: %s: %s", resp.Status, body)
	}
	var img struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &img); err != nil || img.ID == "" {
		return posted{}, fmt.Errorf("POST: answer %s", body)
	}
	p.id = img.ID
	return p, nil
}

// rss is the resident set size of pid, in bytes (0 if unknown).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuSeconds is the CPU time pid has used, user and system (0 if unknown).
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces), from
	// the third: utime and stime are the 14th and 15th.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks: USER_HZ is 100 on Linux
}
