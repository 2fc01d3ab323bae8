// Package browser_test drives imagepipe's web page in a real browser:
// Debian's chromium, headless, through chromedp, against a whole server
// (internal/testkit/apptest). Without chromium the tests are skipped,
// unless IMAGEPIPE_REQUIRE_BROWSER is set (make test sets it).
package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// requireEnv makes a missing browser a failure instead of a skip.
const requireEnv = "IMAGEPIPE_REQUIRE_BROWSER"

// chromium returns the browser's path, skipping (or failing) the test
// when there is none. IMAGEPIPE_CHROMIUM names another binary.
func chromium(t *testing.T) string {
	t.Helper()
	name := os.Getenv("IMAGEPIPE_CHROMIUM")
	if name == "" {
		name = "chromium"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(requireEnv) != "" {
			t.Fatalf("%s is not installed (scripts/deps.sh --test installs it) and %s is set", name, requireEnv)
		}
		t.Skipf("%s is not installed: scripts/deps.sh --test installs it (set %s=1 to fail instead of skipping)", name, requireEnv)
	}
	return path
}

// Browser is one headless chromium tab that records every request the
// page makes and every console message, exception and browser log entry
// at error level.
type Browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	requests []string
	problems []string
	allowed  []string         // problems containing one of these are expected
	statuses map[string]int64 // URL → last HTTP status
}

// newBrowser starts chromium for the test, its window width x height.
func newBrowser(t *testing.T, width, height int) *Browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &Browser{t: t, ctx: ctx, statuses: map[string]int64{}}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, struct{}{}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *Browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, e.Request.URL)
	case *network.EventResponseReceived:
		b.statuses[e.Response.URL] = e.Response.Status
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError && !b.isAllowed(e.Entry.Text) {
			b.problems = append(b.problems, fmt.Sprintf("log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	default:
		b.recordRuntime(ev)
	}
}

// recordRuntime records console errors and uncaught exceptions (b.mu
// held).
func (b *Browser) recordRuntime(ev any) {
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range e.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
	}
}

// allow expects problems whose text contains s (an error answer the test
// provokes, which the browser logs).
func (b *Browser) allow(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowed = append(b.allowed, s)
}

func (b *Browser) isAllowed(text string) bool {
	for _, a := range b.allowed {
		if strings.Contains(text, a) {
			return true
		}
	}
	return false
}

// Requests are the URLs the page asked for so far.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// Problems are the console errors, exceptions and error log entries so
// far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// checkRequestsStayOn fails the test for every request that went
// anywhere but base (data: and blob: URLs stay in the page).
func (b *Browser) checkRequestsStayOn(base string) {
	b.t.Helper()
	for _, u := range b.Requests() {
		if strings.HasPrefix(u, base+"/") || strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "blob:") {
			continue
		}
		b.t.Errorf("the page requested %s, outside %s", u, base)
	}
}

// run runs actions, failing the test on an error.
func (b *Browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\npage: %s", err, b.pageText())
	}
}

// eval evaluates a JavaScript expression into out (a pointer).
func eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true.
func (b *Browser) waitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.t.Fatalf("waiting for %s: %v\npage: %s\nproblems: %v", what, err, b.pageText(), b.Problems())
	}
}

// pageText is the text of the page's main element, for failure messages.
func (b *Browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("main")||document.body).innerText + " | " + (document.getElementById("notice")||{}).textContent`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// freeAddr is a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proxy forwards loopback TCP connections to a backend address, and cuts
// every open connection on demand: a dropped connection, as the browser
// sees it, with no help from the page.
type proxy struct {
	l       net.Listener
	backend string

	paused atomic.Bool // new connections are closed at once

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// pause makes the proxy close every new connection at once (on), or
// forward them again (off): the server is unreachable meanwhile.
func (p *proxy) pause(on bool) { p.paused.Store(on) }

func newProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, backend: backend, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		l.Close()
		p.cut()
	})
	return p
}

func (p *proxy) base() string { return "http://" + p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	if p.paused.Load() {
		c.Close()
		return
	}
	s, err := net.DialTimeout("tcp", p.backend, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// cut closes every open connection.
func (p *proxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	return len(p.conns) / 2
}

// getStatus is the status of an unauthenticated GET of url.
func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
