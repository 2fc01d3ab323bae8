package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/imagepipe/imagepipe/internal/testkit/procmem"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// proc is a server the bench started, with the processes whose memory and
// CPU count as its own (nginx: the master and its workers).
type proc struct {
	name string
	cmd  *exec.Cmd
	pids []int
	log  string
	done chan struct{}
}

func startProc(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, pids: []int{cmd.Process.Pid}, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM, waits up to grace, then kills the process group.
func (p *proc) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail is the end of the process' log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// addChildren adds the processes whose parent is the first pid (nginx's
// workers).
func (p *proc) addChildren() {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.ppid == p.pids[0] {
			p.pids = append(p.pids, pid)
		}
	}
}

// cpu is the CPU time (user + system) the processes have used so far.
func (p *proc) cpu() time.Duration {
	var ticks int64
	for _, pid := range p.pids {
		if st, err := readStat(pid); err == nil {
			ticks += st.ticks
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// rss is the processes' resident memory now, in bytes.
func (p *proc) rss() int64 {
	var b int64
	for _, pid := range p.pids {
		if u, err := procmem.Read(pid); err == nil {
			b += u.RSS
		}
	}
	return b
}

type stat struct {
	ppid  int
	ticks int64 // utime + stime
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'. Then: state ppid ... utime (12th) stime (13th).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return stat{}, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return stat{ppid: ppid, ticks: ut + st}, nil
}

// window measures a server over one stretch of load: the CPU it used, and
// its peak RSS sampled every 20 ms.
type window struct {
	p       *proc
	cpu0    time.Duration
	self0   time.Duration
	start   time.Time
	stopped chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	rss0    int64
	peak    int64
}

func (p *proc) measure() *window {
	rss := p.rss()
	w := &window{p: p, cpu0: p.cpu(), self0: selfCPU(), start: time.Now(), stopped: make(chan struct{}), rss0: rss, peak: rss}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stopped:
				return
			case <-t.C:
				if r := p.rss(); r > w.peak {
					w.peak = r
				}
			}
		}
	}()
	return w
}

// span is what a window measured.
type span struct {
	wall, cpu, clientCPU time.Duration
	startRSS, peakRSS    int64
}

// stopSampling ends the RSS sampling, once.
func (w *window) stopSampling() {
	w.once.Do(func() {
		close(w.stopped)
		w.wg.Wait()
		if r := w.p.rss(); r > w.peak {
			w.peak = r
		}
	})
}

func (w *window) end() span {
	w.stopSampling()
	return span{wall: time.Since(w.start), cpu: w.p.cpu() - w.cpu0, clientCPU: selfCPU() - w.self0, startRSS: w.rss0, peakRSS: w.peak}
}

// selfCPU is this process' CPU time: the load generator's.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 200, the process exits or the
// timeout passes.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %s within %s: %s", p.name, url, timeout, p.tail())
}

// imagepipe is a running all-in-one server.
type imagepipe struct {
	*proc
	base string // http://127.0.0.1:PORT
	key  string // the admin key
	data string
}

// startImagepipe runs the all-in-one target on the embedded default with
// its own data directory under dir and free loopback ports. env is added
// after the bench's settings, so it wins.
func startImagepipe(ctx context.Context, cfg Config, dir string, env ...string) (*imagepipe, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	gp, err := freePort()
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", hp)
	cmd := exec.Command(cfg.Imagepipe)
	cmd.Env = append(os.Environ(),
		"IMAGEPIPE_TARGET=all",
		"IMAGEPIPE_DATA_DIR="+data,
		fmt.Sprintf("IMAGEPIPE_HTTP_ADDR=127.0.0.1:%d", hp),
		fmt.Sprintf("IMAGEPIPE_GRPC_ADDR=127.0.0.1:%d", gp),
		"IMAGEPIPE_PUBLIC_URL="+base,
	)
	cmd.Env = append(cmd.Env, serverEnv...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Env = append(cmd.Env, cfg.ServerEnv...)
	p, err := startProc("imagepipe", cmd, filepath.Join(dir, "imagepipe.log"))
	if err != nil {
		return nil, err
	}
	ip := &imagepipe{proc: p, base: base, data: data}
	if err := waitHTTP(ctx, p, base+"/healthz", 60*time.Second); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("admin key: %w", err)
	}
	ip.key = strings.TrimSpace(string(key))
	return ip, nil
}

// serverEnv are the bench's settings for every imagepipe it starts: no
// per-tenant request rate (the bench is one tenant; the uploads-in-flight
// caps stay at their defaults).
var serverEnv = []string{"IMAGEPIPE_LIMITS_RPS=0"}

// nginx is a running nginx serving dir/www on a loopback port.
type nginx struct {
	*proc
	base string
}

// startNginx runs nginx in the foreground, unprivileged or as the current
// user, with one worker, sendfile on and no access log: the usual way to
// serve static files fast.
func startNginx(ctx context.Context, bin, dir string) (*nginx, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"www", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		// As root nginx would switch its worker to nobody, who may not
		// read the temporary directory.
		user = "user root root;"
	}
	conf := fmt.Sprintf(`# written by scripts/bench/load
%s
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    types { image/webp webp; image/png png; image/jpeg jpg; image/avif avif; image/gif gif; }
    server {
        listen 127.0.0.1:%[3]d;
        root %[2]s/www;
    }
}
`, user, dir, port)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	p, err := startProc("nginx", cmd, filepath.Join(dir, "nginx.out"))
	if err != nil {
		return nil, err
	}
	n := &nginx{proc: p, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	if err := waitNginx(ctx, n); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	p.addChildren()
	if len(p.pids) < 2 {
		p.stop(5 * time.Second)
		return nil, errors.New("nginx: no worker process found")
	}
	return n, nil
}

// waitNginx waits until nginx accepts connections (any answer will do:
// nothing is served yet).
func waitNginx(ctx context.Context, n *nginx) error {
	for i := 0; i < 200; i++ {
		if n.exited() {
			b, _ := os.ReadFile(filepath.Join(filepath.Dir(n.log), "error.log"))
			return fmt.Errorf("nginx exited: %s %s", n.tail(), b)
		}
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(n.base, "http://"), time.Second); err == nil {
			c.Close()
			time.Sleep(50 * time.Millisecond) // the worker starts after the master listens
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nginx did not listen on %s", n.base)
}
