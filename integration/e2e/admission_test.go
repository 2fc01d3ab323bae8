package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// An upload refused for want of an upload slot is answered 429 at once,
// before its body has come: the gateway waits for ingest to admit an
// upload before it reads a byte of the body, so slow clients cannot pile
// up refused requests, each holding a chunk buffer (reviewed: 400 such
// requests took the gateway from 33 to 446 MiB of heap). Both faces:
// POST /v1/images and a tus PATCH.
func TestRefusedUploadAnsweredBeforeItsBody(t *testing.T) {
	cfg := apptest.Config(t.TempDir())
	cfg.Limits.TenantUploadsInFlight = 1
	s := start(t, cfg)
	photo := imagetest.Fixture(t, "dandelion.jpg")

	// The holder: an upload whose body stops half-way, holding the slot.
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.Base+"/v1/images?wait=0s", pr)
		req.Header.Set("Content-Type", "image/jpeg")
		req.ContentLength = int64(len(photo))
		if resp, err := s.HTTP.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write(photo[:len(photo)/2]); err != nil {
		t.Fatal(err)
	}

	// Declared 20 MB: net/http reads a small unread body (under 256 KiB)
	// to its end before answering, a large one it leaves unread.
	const declared = 20_000_000
	tusURL := createTus(t, s, declared)
	cases := map[string]string{
		"POST": fmt.Sprintf("POST /v1/images?wait=0s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", s.Token, declared),
		"tus PATCH": fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
			strings.TrimPrefix(tusURL, s.Base), s.Token, declared),
	}
	for name, head := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(s.Base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The headers and 10 bytes of a body that is never finished.
			if _, err := io.WriteString(c, head+string(photo[:10])); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			status, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.HasPrefix(status, "HTTP/1.1 429") {
				t.Errorf("got %q, %v; want 429 before the body ends", status, err)
			}
		})
	}
}

// createTus creates a resumable upload of size bytes and returns its URL.
func createTus(t *testing.T, s *server, size int64) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Base+"/v1/tus/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", fmt.Sprint(size))
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("create: %d, Location %q", resp.StatusCode, loc)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = s.Base + loc
	}
	return loc
}
