package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/services/gateway"
)

// dial opens a plain TCP connection to the env's HTTP server, closed when
// the test ends.
func (e *env) dial(t *testing.T) net.Conn {
	t.Helper()
	u, err := url.Parse(e.base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawPost sends a POST with a Content-Length over its own connection, the
// body written in the background (the server may answer before it has
// read it all), and reads the answer: its status, its JSON error (if any)
// and how long it took from the first byte sent.
func (e *env) rawPost(t *testing.T, path, contentType string, body []byte) (int, gateway.ErrorBody, time.Duration) {
	t.Helper()
	c := e.dial(t)
	start := time.Now()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, keyAdmin, contentType, len(body))
	go func() { _, _ = c.Write(body) }()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer after %s: %v", time.Since(start), err)
	}
	defer resp.Body.Close()
	var eb gateway.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb, time.Since(start)
}

// waitClosed waits until the server closes c (or answers on it), and
// returns what it sent and how long that took.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %s (read %q)", within, b)
	}
	return string(b), time.Since(start)
}

// A client that sends its headers too slowly is cut by the header timeout.
func TestSlowHeadersClosed(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	e := newEnv(t, envOptions{cfg: cfg})
	c := e.dial(t)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	got, took := waitClosed(t, c, 5*time.Second)
	if strings.HasPrefix(got, "HTTP/1.1 200") || took > 3*time.Second {
		t.Errorf("after %s: %q; want the connection closed by the header timeout", took, got)
	}
}

// A JSON request whose body stops coming is answered 408 and closed after
// the read timeout.
func TestSlowJSONBodyCut(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.ReadTimeout = 300 * time.Millisecond
	e := newEnv(t, envOptions{cfg: cfg})
	c := e.dial(t)
	fmt.Fprintf(c, "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"file_", keyAdmin)
	got, took := waitClosed(t, c, 5*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 408") || !strings.Contains(got, `"field":"body"`) || took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("after %s: %q; want 408 naming the body after the read timeout", took, got)
	}
}

// A JSON body over gateway.max-json-bytes is 413 naming the body, with or
// without a Content-Length.
func TestJSONBodyOverCap(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.MaxJSONBytes = 1024
	e := newEnv(t, envOptions{cfg: cfg})
	big := `{"file_name":"` + strings.Repeat("a", 2000) + `"}`
	for name, body := range map[string]io.Reader{
		"length":  strings.NewReader(big),
		"chunked": io.MultiReader(strings.NewReader(big)), // no Content-Length
	} {
		t.Run(name, func(t *testing.T) {
			resp := e.do(t, context.Background(), "POST", "/v1/uploads", http.Header{"Content-Type": {"application/json"}}, body)
			var eb gateway.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge ||
				eb.Error.Field != "body" || eb.Error.Reason != "TOO_LARGE" {
				t.Errorf("%d %+v %v; want 413 naming the body", resp.StatusCode, eb, err)
			}
		})
	}
	// Under the cap, the route is reached (and refuses for its own reason).
	resp := e.do(t, context.Background(), "POST", "/v1/uploads", http.Header{"Content-Type": {"application/json"}}, strings.NewReader(`{"file_name":"a.jpg"}`))
	if resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode == http.StatusRequestTimeout {
		t.Errorf("small body: %d", resp.StatusCode)
	}
}

// An upload whose body stalls is cut after the read timeout without a
// byte, and nothing of it is kept; one that is slow but keeps moving
// completes, though it lasts several read timeouts.
func TestUploadInactivity(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.ReadTimeout = 300 * time.Millisecond
	e := newEnv(t, envOptions{cfg: cfg})
	img := pngImage(t)

	t.Run("stalled", func(t *testing.T) {
		c := e.dial(t)
		fmt.Fprintf(c, "POST /v1/images?wait=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", keyAdmin, len(img))
		_, _ = c.Write(img[:len(img)/2])
		_, took := waitClosed(t, c, 5*time.Second)
		if took < 250*time.Millisecond || took > 3*time.Second {
			t.Errorf("stalled upload cut after %s; want about the read timeout", took)
		}
		select {
		case err := <-e.ended:
			if err == nil {
				t.Errorf("the upload stream ended without being canceled")
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the upload stream still runs")
		}
	})

	t.Run("slow", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			// 10 pieces, 100 ms apart: 1 s in all, over 3 read timeouts.
			step := (len(img) + 9) / 10
			for b := img; len(b) > 0; b = b[min(step, len(b)):] {
				time.Sleep(100 * time.Millisecond)
				if _, err := pw.Write(b[:min(step, len(b))]); err != nil {
					return
				}
			}
			pw.Close()
		}()
		start := time.Now()
		resp := e.do(t, context.Background(), "POST", "/v1/images?wait=0", http.Header{"Content-Type": {"image/png"}}, pr)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusAccepted || time.Since(start) < 900*time.Millisecond {
			t.Errorf("after %s: %d %s; want 202 after the whole slow body", time.Since(start), resp.StatusCode, body)
		}
	})
}

// A body of 200,000 empty parts is answered 4xx within 5 s, once, at the
// part past the cap.
func TestManyEmptyParts(t *testing.T) {
	e := newEnv(t, envOptions{})
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for range 200_000 {
		if _, err := mw.CreatePart(textproto.MIMEHeader{}); err != nil {
			t.Fatal(err)
		}
	}
	_ = mw.Close()
	code, eb, took := e.rawPost(t, "/v1/images", mw.FormDataContentType(), b.Bytes())
	t.Logf("%d bytes answered in %s", b.Len(), took)
	if code < 400 || code > 499 || eb.Error.Field != "body" || !strings.Contains(eb.Error.Message, "parts") || took > 5*time.Second {
		t.Errorf("after %s: %d %+v; want 4xx about the number of parts within 5s", took, code, eb)
	}
}

// A non-file part over its cap is refused 413 naming it, before any
// later file is uploaded.
func TestFieldOverCap(t *testing.T) {
	e := newEnv(t, envOptions{})
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("note", strings.Repeat("n", 65<<10))
	fw, _ := mw.CreateFormFile("file", "a.png")
	_, _ = fw.Write(pngImage(t))
	_ = mw.Close()
	e.takeCalls()
	code, eb, _ := e.rawPost(t, "/v1/images", mw.FormDataContentType(), b.Bytes())
	if code != http.StatusRequestEntityTooLarge || eb.Error.Field != "note" || eb.Error.Reason != "TOO_LARGE" {
		t.Errorf("%d %+v; want 413 naming the field note", code, eb)
	}
	if calls := e.takeCalls(); len(calls) != 0 {
		t.Errorf("%d calls; want none", len(calls))
	}
}

// An upload body over ingest's max bytes plus the multipart overhead is
// 413 naming the body.
func TestUploadBodyOverCap(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.MaxUploadBytes = 1024
	e := newEnv(t, envOptions{cfg: cfg})
	body := append(pngImage(t), make([]byte, 2<<20)...) // over 1 KiB + 1 MiB
	code, eb, _ := e.rawPost(t, "/v1/images?wait=0", "image/png", body)
	if code != http.StatusRequestEntityTooLarge || eb.Error.Field != "body" {
		t.Errorf("%d %+v; want 413 naming the body", code, eb)
	}
}

// A multipart body may hold several files that together exceed one
// original's cap (MaxMultipartBytes bounds the whole body instead).
func TestMultipartBodyCap(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.MaxUploadBytes = 1 << 20 // one body: at most 2 MiB with the framing
	e := newEnv(t, envOptions{cfg: cfg})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := range 3 { // 3 × 900 KiB: each under the cap, together over 2 MiB
		fw, _ := mw.CreateFormFile("file", fmt.Sprintf("f%d.png", i))
		fw.Write(append(pngImage(t), make([]byte, 900<<10)...))
	}
	mw.Close()
	code, eb, _ := e.rawPost(t, "/v1/images?wait=0", mw.FormDataContentType(), buf.Bytes())
	if code != http.StatusAccepted {
		t.Errorf("three files under the cap each: %d %+v; want 202", code, eb)
	}
}

// Watches, SSE or newline-delimited JSON, outlive the write timeout.
func TestStreamsOutliveWriteTimeout(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.WriteTimeout = 200 * time.Millisecond
	cfg.SSEKeepalive = 50 * time.Millisecond
	e := newEnv(t, envOptions{cfg: cfg})

	t.Run("sse", func(t *testing.T) {
		id := e.create(t, "", pb.ImageState_IMAGE_STATE_QUEUED)
		s := startSSE(t, e.open(t, context.Background(), "/v1/images/"+id+":watch", "text/event-stream"))
		if ev := s.must(t); ev.event != "image" {
			t.Fatalf("first event %+v", ev)
		}
		time.Sleep(600 * time.Millisecond) // three write timeouts
		e.move(t, id, pb.ImageState_IMAGE_STATE_READY)
		if ev := s.must(t); ev.event != "image" || !strings.Contains(ev.data, "READY") {
			t.Fatalf("after the write timeout: %+v; want the READY event", ev)
		}
		if ev := s.must(t); ev.event != "end" {
			t.Fatalf("after READY: %+v; want end", ev)
		}
	})

	t.Run("ndjson", func(t *testing.T) {
		id := e.create(t, "", pb.ImageState_IMAGE_STATE_QUEUED)
		resp := e.open(t, context.Background(), "/v1/images/"+id+":watch", "")
		r := bufio.NewReader(resp.Body)
		if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, "QUEUED") {
			t.Fatalf("first line %q, %v", line, err)
		}
		time.Sleep(600 * time.Millisecond)
		e.move(t, id, pb.ImageState_IMAGE_STATE_READY)
		if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, "READY") {
			t.Fatalf("after the write timeout: %q, %v; want the READY line", line, err)
		}
	})
}

// Bad timeouts and caps are refused naming the setting; the server has
// the header and idle timeouts and no global read or write timeout.
func TestConfigTimeoutsValidate(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.ReadTimeout, cfg.WriteTimeout, cfg.MaxJSONBytes = 0, -time.Second, 10
	err := cfg.Validate()
	for _, name := range []string{"gateway.read-timeout", "gateway.write-timeout", "gateway.max-json-bytes"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate() = %v; want it to name %s", err, name)
		}
	}
	srv := gateway.DefaultConfig().HTTPServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 10*time.Second || srv.IdleTimeout != 120*time.Second || srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Errorf("server timeouts %+v", srv)
	}
}
