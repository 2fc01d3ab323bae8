package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/internal/testkit/promtest"
)

// The tus tests run a whole server (apptest) and speak the protocol over
// HTTP, as a tus client does, on the embedded file store and on S3.

// tusStore is an originals store the tests run on: "file" (the embedded
// default) or "s3" (the loopback S3 server; skipped without it, or
// failed under IMAGEPIPE_REQUIRE_AWS=1).
type tusStore string

func tusStores(t *testing.T) []tusStore {
	stores := []tusStore{"file"}
	if os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("IMAGEPIPE_REQUIRE_AWS") != "" {
		stores = append(stores, "s3")
	}
	return stores
}

// tusConfig is a server config on dir with originals in store.
func tusConfig(t *testing.T, store tusStore, dir string) app.Config {
	t.Helper()
	cfg := apptest.Config(dir)
	cfg.LogLevel = "warn"
	if store == "s3" {
		awstest.Config(t, "S3")
		cfg.OriginalsURL = "s3://" + awstest.Name("tus") + "/o"
		if err := app.Init(context.Background(), cfg, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// tusServer is a running server and the requests the tests make of it.
type tusServer struct {
	*apptest.Server
	t *testing.T
}

func startTus(t *testing.T, cfg app.Config) *tusServer {
	t.Helper()
	return &tusServer{apptest.Start(t, cfg), t}
}

// do sends a tus request (Tus-Resumable set) with token ("" for none).
func (s *tusServer) do(method, path, token string, header map[string]string, body []byte) *http.Response {
	s.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = s.Base + path
	}
	req, err := http.NewRequest(method, path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func body(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// create starts an upload of size bytes and returns its URL.
func (s *tusServer) create(token string, size int, meta string) string {
	s.t.Helper()
	r := s.do(http.MethodPost, "/v1/tus/", token, map[string]string{"Upload-Length": strconv.Itoa(size), "Upload-Metadata": meta}, nil)
	if r.StatusCode != http.StatusCreated {
		s.t.Fatalf("create: %d %s", r.StatusCode, body(r))
	}
	loc := r.Header.Get("Location")
	if !strings.Contains(loc, "/v1/tus/") {
		s.t.Fatalf("create: Location %q", loc)
	}
	if _, err := http.ParseTime(r.Header.Get("Upload-Expires")); err != nil {
		s.t.Errorf("create: Upload-Expires %q: %v", r.Header.Get("Upload-Expires"), err)
	}
	return loc
}

func (s *tusServer) patch(loc, token string, offset int, chunk []byte) *http.Response {
	s.t.Helper()
	return s.do(http.MethodPatch, loc, token, map[string]string{"Upload-Offset": strconv.Itoa(offset),
		"Content-Type": "application/offset+octet-stream"}, chunk)
}

func (s *tusServer) offset(loc, token string) int {
	s.t.Helper()
	r := s.do(http.MethodHead, loc, token, nil, nil)
	if r.StatusCode != http.StatusOK {
		s.t.Fatalf("HEAD: %d", r.StatusCode)
	}
	n, err := strconv.Atoi(r.Header.Get("Upload-Offset"))
	if err != nil {
		s.t.Fatalf("HEAD: Upload-Offset %q", r.Header.Get("Upload-Offset"))
	}
	return n
}

// image reads the image record as token; it must exist.
func (s *tusServer) image(id, token string) map[string]any {
	s.t.Helper()
	r := s.do(http.MethodGet, "/v1/images/"+id, token, nil, nil)
	if r.StatusCode != http.StatusOK {
		s.t.Fatalf("GET image %s: %d %s", id, r.StatusCode, body(r))
	}
	var img map[string]any
	if err := json.Unmarshal([]byte(body(r)), &img); err != nil {
		s.t.Fatal(err)
	}
	return img
}

// received is the gateway's count of tus body bytes.
func (s *tusServer) received() float64 {
	s.t.Helper()
	v, _ := promtest.Scrape(s.t, s.Base+"/metrics").Value("imagepipe_tus_received_bytes_total", nil)
	return v
}

// partialFiles lists the files of unfinished uploads in an embedded
// originals store under dir.
func partialFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(p, string(filepath.Separator)+"partials"+string(filepath.Separator)) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestTusUpload(t *testing.T) {
	photo := imagetest.Fixture(t, "dandelion.jpg")
	for _, store := range tusStores(t) {
		t.Run(string(store), func(t *testing.T) {
			dir := t.TempDir()
			s := startTus(t, tusConfig(t, store, dir))
			loc := s.create(s.Token, len(photo), tusMeta("filename", "dandelion.jpg", "filetype", "image/jpeg", "preset", "default", "batch_id", "tus1", "visibility", "private"))
			half := len(photo) / 2
			r := s.patch(loc, s.Token, 0, photo[:half])
			if r.StatusCode != http.StatusNoContent || r.Header.Get("Upload-Offset") != strconv.Itoa(half) || r.Header.Get("Imagepipe-Image-Id") != "" {
				t.Fatalf("first PATCH: %d offset %q id %q %s", r.StatusCode, r.Header.Get("Upload-Offset"), r.Header.Get("Imagepipe-Image-Id"), body(r))
			}
			if got := s.patch(loc, s.Token, 0, photo[:10]); got.StatusCode != http.StatusConflict {
				t.Errorf("PATCH at a stale offset: %d, want 409", got.StatusCode)
			}
			r = s.patch(loc, s.Token, half, photo[half:])
			id := r.Header.Get("Imagepipe-Image-Id")
			if r.StatusCode != http.StatusNoContent || id == "" || !strings.HasSuffix(loc, "/"+id) {
				t.Fatalf("last PATCH: %d id %q (upload %s) %s", r.StatusCode, id, loc, body(r))
			}
			// The record is there at once, as a POST would have made it.
			img := s.image(id, s.Token)
			orig, _ := img["original"].(map[string]any)
			if img["batch_id"] != "tus1" || img["visibility"] != "VISIBILITY_PRIVATE" || orig["file_name"] != "dandelion.jpg" ||
				orig["bytes"] != strconv.Itoa(len(photo)) || orig["format"] != "FORMAT_JPEG" || len(fmt.Sprint(orig["sha256"])) != 64 {
				t.Errorf("image %v", img)
			}
			// Finishing is idempotent: HEAD again and again gives the same image.
			for range 2 {
				h := s.do(http.MethodHead, loc, s.Token, nil, nil)
				if h.StatusCode != http.StatusOK || h.Header.Get("Imagepipe-Image-Id") != id || h.Header.Get("Upload-Offset") != strconv.Itoa(len(photo)) {
					t.Errorf("HEAD of the finished upload: %d id %q offset %q", h.StatusCode, h.Header.Get("Imagepipe-Image-Id"), h.Header.Get("Upload-Offset"))
				}
			}
			// The stale PATCH was refused before its body was read.
			if got := s.received(); got != float64(len(photo)) {
				t.Errorf("imagepipe_tus_received_bytes_total %v, want %d", got, len(photo))
			}
			waitReady(t, s, id)
			if store == "file" {
				if left := partialFiles(t, dir); len(left) > 0 {
					t.Errorf("partial files left: %v", left)
				}
			}
		})
	}
}

// waitReady waits for the image to be READY.
func waitReady(t *testing.T, s *tusServer, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		img := s.image(id, s.Token)
		switch img["state"] {
		case "IMAGE_STATE_READY":
			return
		case "IMAGE_STATE_FAILED":
			t.Fatalf("image FAILED: %v", img["error"])
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s not READY: %v", id, img["state"])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTusCreationWithUpload(t *testing.T) {
	photo := imagetest.Fixture(t, "coffee.png")
	s := startTus(t, tusConfig(t, "file", t.TempDir()))
	r := s.do(http.MethodPost, "/v1/tus/", s.Token, map[string]string{"Upload-Length": strconv.Itoa(len(photo)),
		"Content-Type": "application/offset+octet-stream", "Upload-Metadata": tusMeta("filename", "coffee.png")}, photo)
	id := r.Header.Get("Imagepipe-Image-Id")
	if r.StatusCode != http.StatusCreated || id == "" || r.Header.Get("Upload-Offset") != strconv.Itoa(len(photo)) {
		t.Fatalf("POST with the whole upload: %d id %q offset %q %s", r.StatusCode, id, r.Header.Get("Upload-Offset"), body(r))
	}
	if img := s.image(id, s.Token); img["original"].(map[string]any)["format"] != "FORMAT_PNG" {
		t.Errorf("image %v", img)
	}
}

// TestTusResumeAfterCut cuts the connection in the middle of a PATCH: what
// arrived is kept, the client asks for the offset and sends the rest, and
// the server received less than 1.5 times the file.
func TestTusResumeAfterCut(t *testing.T) {
	photo := big(t)
	for _, store := range tusStores(t) {
		t.Run(string(store), func(t *testing.T) {
			s := startTus(t, tusConfig(t, store, t.TempDir()))
			loc := s.create(s.Token, len(photo), tusMeta("filename", "big.png"))
			sent := len(photo) * 6 / 10
			cutPatch(t, loc, s.Token, photo, sent)
			r := s.resume(loc, s.Token, photo, sent)
			if r.StatusCode != http.StatusNoContent || r.Header.Get("Imagepipe-Image-Id") == "" {
				t.Fatalf("resumed PATCH: %d %s", r.StatusCode, body(r))
			}
			if got := s.received(); got >= 1.5*float64(len(photo)) || got < float64(len(photo)) {
				t.Errorf("server received %v bytes for a %d-byte file", got, len(photo))
			}
			waitReady(t, s, r.Header.Get("Imagepipe-Image-Id"))
		})
	}
}

// resume sends the rest of photo from the upload's offset, as a tus
// client does: HEAD, then PATCH; a 409 (the cut write is still being
// saved, so the offset moved) asks again. The offset must be past 0 and
// at most sent.
func (s *tusServer) resume(loc, token string, photo []byte, sent int) *http.Response {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		off := s.offset(loc, token)
		if off > sent {
			s.t.Fatalf("offset %d after %d bytes were sent", off, sent)
		}
		if off > 0 {
			r := s.patch(loc, token, off, photo[off:])
			if r.StatusCode != http.StatusConflict {
				return r
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("upload stuck at offset %d", off)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// big is a real photograph of about 20 MB: the landscape photograph
// enlarged 2.15 times and written as an uncompressed PNG.
func big(t *testing.T) []byte {
	t.Helper()
	bigOnce.Do(func() {
		imaging.Startup(imaging.Config{})
		img, err := vips.NewImageFromBuffer(imagetest.Fixture(t, "dandelion.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		if err := img.Resize(2.15, vips.KernelLanczos3); err != nil {
			t.Fatal(err)
		}
		if bigPNG, _, err = img.ExportPng(&vips.PngExportParams{Compression: 0, StripMetadata: true}); err != nil {
			t.Fatal(err)
		}
	})
	if len(bigPNG) < 15<<20 {
		t.Fatalf("big photo of %d bytes", len(bigPNG))
	}
	return bigPNG
}

var (
	bigOnce sync.Once
	bigPNG  []byte
)

// cutPatch sends a PATCH that announces the whole rest of photo but
// sends only n bytes, then closes the connection.
func cutPatch(t *testing.T, loc, token string, photo []byte, n int) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\n", u.Path, u.Host, token)
	fmt.Fprintf(w, "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", len(photo))
	_, _ = w.Write(photo[:n])
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the gateway pass it on
	_ = c.Close()
}
