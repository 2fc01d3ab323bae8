package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/internal/testkit/procmem"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The abuse tests of issue 12: each hostile or heavy client is answered
// as it should be, and the server's memory stays bounded meanwhile. The
// server is a child process (the test binary re-executed, see
// child_test.go), so its resident memory is its own: its peak (VmHWM) is
// reset before each case and read after.
//
// Its timeouts are short, so that they pass within the test. Its variants
// store stalls (fault "stall") with one worker, so every image stays
// QUEUED or PROCESSING (a watch never ends by itself) and memory is the
// serving side's, not the processing of a growing backlog.
const (
	abuseHeaderTimeout = time.Second
	abuseReadTimeout   = 2 * time.Second
	abuseWatchLife     = 2 * time.Second
	// slack is what an answer due at a timeout may take beyond it on a
	// loaded 2-core machine with the race detector.
	slack = 3 * time.Second
)

// abuseServer is the child process the abuse tests run against.
type abuseServer struct {
	*server
	child *child
	dir   string
}

// startAbuseServer starts the child with the abuse tests' settings and
// env over them.
func startAbuseServer(t *testing.T, name string, env ...string) *abuseServer {
	t.Helper()
	dir := t.TempDir()
	c := spawn(t, dir, name, "stall", append([]string{
		"IMAGEPIPE_PROCESSOR_WORKERS=1",
		"IMAGEPIPE_LOG_LEVEL=warn",
		// The operator's tenant may upload at the process's cap (64 at
		// once) and call as often as the tests do; "slow" is the tenant
		// over its rate.
		"IMAGEPIPE_LIMITS_TENANTS=default:rps=10000,burst=10000,uploads=1000;" + slowTenant,
	}, env...)...)
	return &abuseServer{server: &server{apptest.Remote("http://"+c.http, apptest.ReadToken(dir))}, child: c, dir: dir}
}

// memory is the child's resident memory, in MiB: its peak since the last
// resetPeak (VmHWM) and now (VmRSS).
func (a *abuseServer) memory(t *testing.T) (peak, now float64) {
	t.Helper()
	u, err := procmem.Read(a.child.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("the server's memory: %v", err)
	}
	return procmem.MiB(u.Peak), procmem.MiB(u.RSS)
}

// resetPeak starts the child's VmHWM again from its VmRSS, so that each
// case's peak is its own.
func (a *abuseServer) resetPeak(t *testing.T) {
	t.Helper()
	if err := procmem.ResetPeak(a.child.cmd.Process.Pid); err != nil {
		t.Fatalf("reset the server's peak memory: %v", err)
	}
}

// bounded runs a case and checks the server's peak memory during it: at
// most bound MiB more than when it started.
func (a *abuseServer) bounded(t *testing.T, name string, bound float64, run func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		a.resetPeak(t)
		_, before := a.memory(t)
		run(t)
		peak, after := a.memory(t)
		t.Logf("server memory: %.0f MiB before, peak %.0f MiB (+%.0f), %.0f MiB after", before, peak, peak-before, after)
		if peak-before > bound {
			t.Errorf("the server's memory grew by %.0f MiB (%.0f to a peak of %.0f), bound %.0f MiB", peak-before, before, peak, bound)
		}
	})
}

func TestAbuse(t *testing.T) {
	a := startAbuseServer(t, "abuse",
		"IMAGEPIPE_GATEWAY_READ_HEADER_TIMEOUT="+abuseHeaderTimeout.String(),
		"IMAGEPIPE_GATEWAY_READ_TIMEOUT="+abuseReadTimeout.String(),
		"IMAGEPIPE_STATUS_MAX_WATCH_DURATION="+abuseWatchLife.String())
	_, base := a.memory(t)
	t.Logf("server memory at start: %.0f MiB (race detector: %v)", base, raceEnabled)

	// Bounds, in MiB beyond the memory before the case, measured on 2
	// cores: a connection or a refused request holds a few KiB; these
	// cases measured +0 to +3 MiB (+13 for 200,000 parts, with the race
	// detector), so 32 MiB is the heap's and the runtime's noise.
	const small = 32
	a.bounded(t, "SlowConnections", small, func(t *testing.T) {
		t.Run("Header", func(t *testing.T) { t.Parallel(); slowHeader(t, a) })
		t.Run("JSONBody", func(t *testing.T) { t.Parallel(); slowJSONBody(t, a) })
		t.Run("UploadBody", func(t *testing.T) { t.Parallel(); stalledUploadBody(t, a) })
	})
	a.bounded(t, "ManyEmptyParts", small, func(t *testing.T) { manyEmptyParts(t, a) })
	a.bounded(t, "CostlySpec", small, func(t *testing.T) { costlySpec(t, a) })
	a.bounded(t, "TenantOverItsRate", small, func(t *testing.T) { checkTenantRateLimit(t, a.server) })
	a.bounded(t, "WatchPastItsLife", small, func(t *testing.T) { watchesExpire(t, a) })
	a.child.kill()

	// A server of its own with the default timeouts: under the load of 300
	// clients at once on 2 cores, a client may take longer than the short
	// header timeout above to send its headers, and be cut, rightly.
	load := startAbuseServer(t, "abuse-load")
	load.bounded(t, "ConcurrentUploads", concurrentUploadsBound, func(t *testing.T) { concurrentUploads(t, load) })
}

// slowHeader sends a request's headers a byte at a time, never ending
// them: the server closes the connection at its header timeout.
func slowHeader(t *testing.T, a *abuseServer) {
	c := dialRaw(t, a)
	began := time.Now()
	fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	closed := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(c); closed <- b }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(abuseHeaderTimeout + slack)
	for {
		select {
		case b := <-closed:
			took := time.Since(began)
			// Go's server answers a 400 and closes, or (before Go 1.25)
			// closes without an answer.
			if took < abuseHeaderTimeout-100*time.Millisecond || (len(b) != 0 && !bytes.HasPrefix(b, []byte("HTTP/1.1 400 "))) {
				t.Errorf("closed after %s with %q; want at the header timeout (%s), no answer or 400", took, b, abuseHeaderTimeout)
			}
			return
		case <-tick.C:
			_, _ = c.Write([]byte("X")) // one more byte of a header line
		case <-giveUp:
			t.Fatalf("a header trickled for %s is still read", abuseHeaderTimeout+slack)
		}
	}
}

// slowJSONBody trickles a JSON body a byte every 100 ms: it has the read
// timeout to arrive whole, so it is answered 408 then, and the connection
// closed.
func slowJSONBody(t *testing.T, a *abuseServer) {
	c := dialRaw(t, a)
	began := time.Now()
	fmt.Fprintf(c, "POST /v1/admin/dead-letters:purge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", a.Token)
	go trickle(c, 100*time.Millisecond)
	resp := readAnswer(t, c, abuseReadTimeout+slack)
	took := time.Since(began)
	if resp.StatusCode != http.StatusRequestTimeout || took < abuseReadTimeout-100*time.Millisecond {
		t.Errorf("answered %d after %s; want 408 at the read timeout (%s)", resp.StatusCode, took, abuseReadTimeout)
	}
	wantClosed(t, c)
}

// stalledUploadBody sends part of an upload, trickles a few bytes, then
// stops: an upload may be slow but not stand still for the read timeout,
// so it is answered 408 then, and the connection closed.
func stalledUploadBody(t *testing.T, a *abuseServer) {
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	c := dialRaw(t, a)
	fmt.Fprintf(c, "POST /v1/images?wait=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", a.Token, len(jpeg))
	_, _ = c.Write(jpeg[:32<<10])
	for _, b := range jpeg[32<<10 : 32<<10+10] { // 1 s of a byte every 100 ms: not cut
		time.Sleep(100 * time.Millisecond)
		_, _ = c.Write([]byte{b})
	}
	last := time.Now()
	resp := readAnswer(t, c, abuseReadTimeout+slack)
	took := time.Since(last)
	if resp.StatusCode != http.StatusRequestTimeout || took < abuseReadTimeout-100*time.Millisecond {
		t.Errorf("answered %d %s after %s without a byte; want 408 at the read timeout (%s)", resp.StatusCode, readBody(resp), took, abuseReadTimeout)
	}
	wantClosed(t, c)
}

// manyEmptyParts posts a multipart body of 200,000 empty parts: refused
// (4xx) once past the parts allowed, within 5 s, with one error.
func manyEmptyParts(t *testing.T, a *abuseServer) {
	var body bytes.Buffer
	for range 200_000 {
		body.WriteString("--x\r\n\r\n\r\n")
	}
	body.WriteString("--x--\r\n")
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.Base+"/v1/images?wait=0", &body)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	r := a.do(t, req)
	e := r.errorBody(t)
	if r.code < 400 || r.code > 499 || e.Error.Field != "body" || !strings.Contains(e.Error.Message, "parts") {
		t.Errorf("answered %d %s; want 4xx naming the parts allowed", r.code, r.body)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("answered after %s, want within 5 s", took)
	}
}

// costlySpec asks, for a 1×1 PNG, for 16 variants of 8192 px with
// upscaling, blur σ 100 and lossless WebP at effort 6: refused with 400
// naming the field, nothing stored.
func costlySpec(t *testing.T, a *abuseServer) {
	variants := make([]map[string]any, 16)
	for i := range variants {
		variants[i] = map[string]any{"name": fmt.Sprintf("v%d", i), "width": 8192, "height": 8192, "allow_upscale": true,
			"format": "FORMAT_WEBP", "webp": map[string]any{"lossless": true, "effort": 6}, "effects": map[string]any{"blur_sigma": 100}}
	}
	spec, _ := json.Marshal(map[string]any{"variants": variants})
	var onePixel bytes.Buffer
	if err := png.Encode(&onePixel, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	before := countFiles(t, filepath.Join(a.dir, "originals"))
	r := a.post(t, "/v1/images?wait=0&spec="+url.QueryEscape(string(spec)), "image/png", &onePixel)
	e := r.errorBody(t)
	if r.code != http.StatusBadRequest || !strings.HasPrefix(e.Error.Field, "spec.variants") {
		t.Errorf("answered %d %s; want 400 naming a field of spec.variants", r.code, r.body)
	}
	if n := countFiles(t, filepath.Join(a.dir, "originals")); n != before {
		t.Errorf("%d originals stored, %d before: the refused upload was kept", n, before)
	}
}

// watchesExpire watches an image that never finishes, by SSE and by
// gRPC: both end at the watch's maximum life, WATCH_EXPIRED.
func watchesExpire(t *testing.T, a *abuseServer) {
	r := a.post(t, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	id := r.image(t).GetId()
	t.Run("SSE", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), abuseWatchLife+slack)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+"/v1/images/"+id+":watch", nil)
		req.Header.Set("Accept", "text/event-stream")
		began := time.Now()
		r := a.do(t, req) // reads the stream to its end
		took := time.Since(began)
		events := string(r.body)
		if r.code != http.StatusOK || !strings.Contains(events, "event: image") || !strings.Contains(events, "event: error") ||
			!strings.Contains(events, "WATCH_EXPIRED") || took < abuseWatchLife-100*time.Millisecond {
			t.Errorf("%d after %s:\n%s\nwant the image, then an error event WATCH_EXPIRED at %s", r.code, took, events, abuseWatchLife)
		}
	})
	t.Run("GRPC", func(t *testing.T) {
		t.Parallel()
		conn, err := grpc.NewClient(a.child.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.PerRPCToken(a.Token)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), abuseWatchLife+slack)
		defer cancel()
		began := time.Now()
		w, err := pb.NewStatusServiceClient(conn).WatchImage(ctx, &pb.WatchImageRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err = w.Recv(); err != nil {
				break
			}
		}
		took := time.Since(began)
		st := status.Convert(err)
		reason, _ := apperr.Info(st)
		if st.Code() != codes.DeadlineExceeded || reason != "WATCH_EXPIRED" || took < abuseWatchLife-100*time.Millisecond || ctx.Err() != nil {
			t.Errorf("ended after %s with %s %s (%s); want DEADLINE_EXCEEDED WATCH_EXPIRED from the server at %s",
				took, st.Code(), reason, st.Message(), abuseWatchLife)
		}
	})
}

// concurrentUploads posts 300 uploads of a photograph at once: each is
// answered, 202 or 429 (over the uploads in flight allowed), none 5xx nor
// a broken connection.
func concurrentUploads(t *testing.T, a *abuseServer) {
	const n = 300
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	// A connection each, as 300 clients would have (a kept-alive one
	// could be reused just as the server closes it).
	client := &http.Client{Transport: apptest.WithToken(&http.Transport{DisableKeepAlives: true}, a.Token), Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	answers := map[int]int{}
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, a.Base+"/v1/images?wait=0", bytes.NewReader(jpeg))
			req.Header.Set("Content-Type", "image/jpeg")
			resp, err := client.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			answers[resp.StatusCode]++
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d uploads at once in %s: %v", n, time.Since(began).Round(time.Millisecond), answers)
	if len(errs) > 0 {
		t.Errorf("%d uploads failed without an answer, e.g. %v", len(errs), errors.Join(errs[:min(3, len(errs))]...))
	}
	if answers[http.StatusAccepted] == 0 || answers[http.StatusAccepted]+answers[http.StatusTooManyRequests] != n {
		t.Errorf("answers %v; want %d, each 202 or 429, some 202", answers, n)
	}
}

// dialRaw is a TCP connection to the server's HTTP port, closed when the
// test ends.
func dialRaw(t *testing.T, a *abuseServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", a.child.http)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trickle writes a space every interval until the connection fails.
func trickle(c net.Conn, interval time.Duration) {
	for {
		time.Sleep(interval)
		if _, err := c.Write([]byte(" ")); err != nil {
			return
		}
	}
}

// readAnswer reads the HTTP answer on c, waiting at most within.
func readAnswer(t *testing.T, c net.Conn, within time.Duration) *http.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", within, err)
	}
	return resp
}

func readBody(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return string(b)
}

// wantClosed checks that the server closes c (after its answer) within
// slack.
func wantClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(slack))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Errorf("the connection is still open %s after the answer", slack)
	}
}
