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

	"github.com/aws/aws-sdk-go-v2/service/s3"
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
func tusConfig(t testing.TB, store tusStore, dir string) app.Config {
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
func big(t testing.TB) []byte {
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

// TestTusServerRestart stops the server in the middle of an upload; a new
// one on the same stores takes the rest.
func TestTusServerRestart(t *testing.T) {
	photo := imagetest.Fixture(t, "coffee.png")
	for _, store := range tusStores(t) {
		t.Run(string(store), func(t *testing.T) {
			cfg := tusConfig(t, store, t.TempDir())
			first := startTus(t, cfg)
			loc := first.create(first.Token, len(photo), tusMeta("filename", "coffee.png"))
			id := loc[strings.LastIndex(loc, "/")+1:]
			half := len(photo) / 3
			if r := first.patch(loc, first.Token, 0, photo[:half]); r.StatusCode != http.StatusNoContent {
				t.Fatalf("PATCH: %d %s", r.StatusCode, body(r))
			}
			if !first.Kill() {
				t.Fatal("the first server did not stop")
			}
			second := startTus(t, cfg)
			loc = second.Base + "/v1/tus/" + id
			if off := second.offset(loc, second.Token); off != half {
				t.Fatalf("offset after the restart: %d, want %d", off, half)
			}
			r := second.patch(loc, second.Token, half, photo[half:])
			if r.StatusCode != http.StatusNoContent || r.Header.Get("Imagepipe-Image-Id") != id {
				t.Fatalf("PATCH after the restart: %d id %q %s", r.StatusCode, r.Header.Get("Imagepipe-Image-Id"), body(r))
			}
			waitReady(t, second, id)
		})
	}
}

// TestTusTerminate: DELETE removes an unfinished upload and its bytes; a
// finished one is an image, which DELETE of the upload does not touch.
func TestTusTerminate(t *testing.T) {
	photo := imagetest.Fixture(t, "coffee.png")
	dir := t.TempDir()
	s := startTus(t, tusConfig(t, "file", dir))
	loc := s.create(s.Token, len(photo), tusMeta("filename", "coffee.png"))
	if r := s.patch(loc, s.Token, 0, photo[:1000]); r.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d", r.StatusCode)
	}
	if len(partialFiles(t, dir)) == 0 {
		t.Fatal("no partial files while uploading")
	}
	if r := s.do(http.MethodDelete, loc, s.Token, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.StatusCode, body(r))
	}
	if r := s.do(http.MethodHead, loc, s.Token, nil, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD after DELETE: %d, want 404", r.StatusCode)
	}
	if left := partialFiles(t, dir); len(left) > 0 {
		t.Errorf("partial files left: %v", left)
	}

	done := s.create(s.Token, len(photo), tusMeta("filename", "coffee.png"))
	if r := s.patch(done, s.Token, 0, photo); r.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d", r.StatusCode)
	}
	r := s.do(http.MethodDelete, done, s.Token, nil, nil)
	if r.StatusCode != http.StatusConflict || !strings.Contains(body(r), "UPLOAD_COMPLETE") {
		t.Errorf("DELETE of a finished upload: %d %s, want 409 UPLOAD_COMPLETE", r.StatusCode, body(r))
	}
	s.image(done[strings.LastIndex(done, "/")+1:], s.Token)
}

// TestTusExpiry: an upload left unfinished past the expiry is removed,
// bytes and all, by the ingest's sweep.
func TestTusExpiry(t *testing.T) {
	photo := imagetest.Fixture(t, "coffee.png")
	for _, store := range tusStores(t) {
		t.Run(string(store), func(t *testing.T) {
			dir := t.TempDir()
			cfg := tusConfig(t, store, dir)
			cfg.Ingest.ResumableExpiry = 2 * time.Second
			cfg.Ingest.ResumableSweep = 200 * time.Millisecond
			s := startTus(t, cfg)
			loc := s.create(s.Token, len(photo), tusMeta("filename", "coffee.png"))
			if r := s.patch(loc, s.Token, 0, photo[:1000]); r.StatusCode != http.StatusNoContent {
				t.Fatalf("PATCH: %d", r.StatusCode)
			} else if exp, err := http.ParseTime(r.Header.Get("Upload-Expires")); err != nil || time.Until(exp) > 3*time.Second {
				t.Errorf("Upload-Expires %q, want within 2s", r.Header.Get("Upload-Expires"))
			}
			deadline := time.Now().Add(15 * time.Second)
			for !s.swept(store, dir) {
				if time.Now().After(deadline) {
					t.Fatal("the expired upload's bytes are still there")
				}
				time.Sleep(100 * time.Millisecond)
			}
			if r := s.do(http.MethodHead, loc, s.Token, nil, nil); r.StatusCode != http.StatusNotFound {
				t.Errorf("HEAD of the expired upload: %d, want 404", r.StatusCode)
			}
		})
	}
}

// swept reports whether no unfinished upload is left in the originals
// store: no partial file, or on S3 no multipart upload and no
// bookkeeping object.
func (s *tusServer) swept(store tusStore, dir string) bool {
	s.t.Helper()
	if store == "file" {
		return len(partialFiles(s.t, dir)) == 0
	}
	client := s3.NewFromConfig(awstest.Config(s.t, "S3"), func(o *s3.Options) { o.UsePathStyle = true })
	bucket, _, _ := strings.Cut(strings.TrimPrefix(s.Cfg.OriginalsURL, "s3://"), "/")
	ups, err := client.ListMultipartUploads(s.t.Context(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		s.t.Fatal(err)
	}
	objs, err := client.ListObjectsV2(s.t.Context(), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(ups.Uploads) == 0 && len(objs.Contents) == 0
}

// TestTusTenants: an upload is its tenant's alone, and tus asks for the
// same credentials as POST /v1/images.
func TestTusTenants(t *testing.T) {
	photo := imagetest.Fixture(t, "coffee.png")
	s := startTus(t, tusConfig(t, "file", t.TempDir()))
	acme, globex, reader := s.newKey("acme", "upload", "read"), s.newKey("globex", "upload", "read"), s.newKey("acme", "read")
	loc := s.create(acme, len(photo), tusMeta("filename", "coffee.png"))
	for _, c := range []struct {
		method string
		header map[string]string
		body   []byte
	}{
		{http.MethodHead, nil, nil},
		{http.MethodPatch, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, photo},
		{http.MethodDelete, nil, nil},
	} {
		if r := s.do(c.method, loc, globex, c.header, c.body); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s of another tenant's upload: %d, want 404", c.method, r.StatusCode)
		}
	}
	r := s.do(http.MethodPost, "/v1/tus/", "", map[string]string{"Upload-Length": "10"}, nil)
	if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("create without credentials: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := s.do(http.MethodHead, loc, "ipk_not-a-key", nil, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("HEAD with a bad key: %d, want 401", r.StatusCode)
	}
	if r := s.do(http.MethodPost, "/v1/tus/", reader, map[string]string{"Upload-Length": "10"}, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("create with a read-only key: %d, want 403", r.StatusCode)
	}
	// The owner finishes it; the other tenant still sees nothing.
	if r := s.patch(loc, acme, 0, photo); r.StatusCode != http.StatusNoContent {
		t.Fatalf("owner's PATCH: %d %s", r.StatusCode, body(r))
	}
	if r := s.do(http.MethodHead, loc, globex, nil, nil); r.StatusCode != http.StatusNotFound || r.Header.Get("Imagepipe-Image-Id") != "" {
		t.Errorf("HEAD of another tenant's finished upload: %d %q", r.StatusCode, r.Header.Get("Imagepipe-Image-Id"))
	}
}

// newKey creates an API key for tenant with scopes, as the operator.
func (s *tusServer) newKey(tenant string, scopes ...string) string {
	s.t.Helper()
	b, _ := json.Marshal(map[string]any{"tenant": tenant, "scopes": scopes, "name": s.t.Name()})
	r := s.do(http.MethodPost, "/v1/admin/keys", s.Token, map[string]string{"Content-Type": "application/json"}, b)
	var created struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(body(r)), &created); err != nil || created.Secret == "" {
		s.t.Fatalf("create key: %d %s", r.StatusCode, body(r))
	}
	return created.Secret
}

// tusErrorBody is the JSON of a refused tus request.
type tusErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Reason, Field string
	} `json:"details"`
}

func errorOf(t *testing.T, r *http.Response) tusErrorBody {
	t.Helper()
	var e tusErrorBody
	if err := json.Unmarshal([]byte(body(r)), &e); err != nil || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("error body %q (%s): %v", body(r), r.Header.Get("Content-Type"), err)
	}
	return e
}

func TestTusLimits(t *testing.T) {
	cfg := tusConfig(t, "file", t.TempDir())
	cfg.Ingest.MaxBytes = 1 << 20
	env := map[string]string{"IMAGEPIPE_LIMITS_TENANTS": "slow:rps=0.5,burst=2"}
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	s := startTus(t, cfg)
	r := s.do(http.MethodPost, "/v1/tus/", s.Token, map[string]string{"Upload-Length": strconv.Itoa(1<<20 + 1)}, nil)
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("Upload-Length over the limit: %d %s, want 413", r.StatusCode, body(r))
	}
	r = s.do(http.MethodPost, "/v1/tus/", s.Token, map[string]string{"Upload-Length": "10", "Upload-Metadata": tusMeta("batch_id", "no spaces allowed")}, nil)
	if e := errorOf(t, r); r.StatusCode != http.StatusBadRequest || len(e.Details) != 1 || e.Details[0].Field != "batch_id" || e.Code != 400 {
		t.Errorf("bad batch_id: %d %+v", r.StatusCode, e)
	}
	slow := s.newKey("slow", "upload")
	var last *http.Response
	for range 3 { // a burst of 2, then refused
		last = s.do(http.MethodPost, "/v1/tus/", slow, map[string]string{"Upload-Length": "10"}, nil)
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("third request of a tenant allowed 2: %d Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
}

// TestTusCorrupt: a file that is not an image is refused by the PATCH that
// completes it, with the reason, and nothing of it is left.
func TestTusCorrupt(t *testing.T) {
	photo := imagetest.Fixture(t, "coffee.png")
	notImage := append([]byte("%PDF-1.7\n"), photo[9:]...) // a photo's bytes behind another format's magic
	for _, store := range tusStores(t) {
		t.Run(string(store), func(t *testing.T) {
			dir := t.TempDir()
			s := startTus(t, tusConfig(t, store, dir))
			loc := s.create(s.Token, len(notImage), tusMeta("filename", "fake.png", "filetype", "image/png"))
			id := loc[strings.LastIndex(loc, "/")+1:]
			r := s.patch(loc, s.Token, 0, notImage)
			e := errorOf(t, r)
			if r.StatusCode != http.StatusUnsupportedMediaType || e.Code != 415 || len(e.Details) != 1 || e.Details[0].Reason != "UNSUPPORTED_FORMAT" ||
				!strings.Contains(e.Message, "not an image") || r.Header.Get("Imagepipe-Image-Id") != "" {
				t.Errorf("PATCH of a non-image: %d %+v", r.StatusCode, e)
			}
			if g := s.do(http.MethodGet, "/v1/images/"+id, s.Token, nil, nil); g.StatusCode != http.StatusNotFound {
				t.Errorf("image of the refused upload: %d, want 404", g.StatusCode)
			}
			if h := s.do(http.MethodHead, loc, s.Token, nil, nil); h.StatusCode != http.StatusNotFound {
				t.Errorf("HEAD of the refused upload: %d, want 404", h.StatusCode)
			}
			if !s.swept(store, dir) {
				t.Error("the refused upload left bytes behind")
			}
			if store == "file" {
				_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
					if err == nil && strings.Contains(p, id) {
						t.Errorf("left behind: %s", p)
					}
					return nil
				})
			}
		})
	}
}

// TestTusCORS: with CORS on, a page may send tus's methods and headers
// and read the headers a tus client needs, the image id included.
func TestTusCORS(t *testing.T) {
	const origin = "http://page.example"
	cfg := tusConfig(t, "file", t.TempDir())
	cfg.Gateway.CORSOrigins = []string{origin}
	s := startTus(t, cfg)
	pre := s.do(http.MethodOptions, "/v1/tus/some-id", "", map[string]string{"Origin": origin,
		"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization,content-type,tus-resumable,upload-offset"}, nil)
	if pre.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Errorf("preflight of a PATCH: %d %v", pre.StatusCode, pre.Header)
	}
	r := s.do(http.MethodPost, "/v1/tus/", s.Token, map[string]string{"Origin": origin, "Upload-Length": "10"}, nil)
	exposed := strings.ToLower(r.Header.Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"location", "upload-offset", "upload-expires", "imagepipe-image-id", "tus-resumable"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
		}
	}
	opt := s.do(http.MethodOptions, "/v1/tus/", "", nil, nil)
	if ext := opt.Header.Get("Tus-Extension"); !strings.Contains(ext, "creation-with-upload") || !strings.Contains(ext, "termination") || !strings.Contains(ext, "expiration") {
		t.Errorf("OPTIONS: %d Tus-Extension %q", opt.StatusCode, ext)
	}
	if opt.Header.Get("Tus-Max-Size") != strconv.FormatInt(cfg.Ingest.MaxBytes, 10) {
		t.Errorf("Tus-Max-Size %q, want %d", opt.Header.Get("Tus-Max-Size"), cfg.Ingest.MaxBytes)
	}
}

// TestTusUploadsInFlight: a PATCH counts as an upload in flight of its
// tenant: while one is sending, a tenant allowed one is refused a second
// (429), and served again once the first ended.
func TestTusUploadsInFlight(t *testing.T) {
	photo := big(t)
	cfg := tusConfig(t, "file", t.TempDir())
	env := map[string]string{"IMAGEPIPE_LIMITS_TENANTS": "single:uploads=1"}
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	s := startTus(t, cfg)
	key := s.newKey("single", "upload", "read")
	first := s.create(key, len(photo), tusMeta("filename", "a.png"))
	second := s.create(key, len(photo), tusMeta("filename", "b.png"))
	// The first PATCH sends 3 MiB of its body (more than a chunk, which
	// the gateway passes on) and holds the connection open.
	u, _ := url.Parse(first)
	var c net.Conn
	var br *bufio.Reader
	var answered chan struct{} // closed when the first PATCH has an answer
	holdFirst := func() {
		var err error
		if c, err = net.Dial("tcp", u.Host); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\n"+
			"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", u.Path, u.Host, key, len(photo))
		if _, err := c.Write(photo[:3<<20]); err != nil {
			t.Fatal(err)
		}
		answered, br = make(chan struct{}), bufio.NewReader(c)
		go func(br *bufio.Reader, done chan struct{}) {
			defer close(done)
			_, _ = br.Peek(1) // an answer, or the test closing c
		}(br, answered)
	}
	holdFirst()
	defer func() { c.Close() }()
	// Until the first PATCH reaches ingest, others get through: each try
	// takes a fresh upload. A try that held the only slot when the first
	// PATCH came makes the first one 429 (at once: its body is not read);
	// then the first is sent again.
	deadline := time.Now().Add(10 * time.Second)
	for try := second; ; try = s.create(key, len(photo), tusMeta("filename", "c.png")) {
		r := s.patch(try, key, 0, photo[:100])
		if r.StatusCode == http.StatusTooManyRequests {
			if r.Header.Get("Retry-After") == "" && !strings.Contains(body(r), "uploads in flight") {
				t.Errorf("429 without its reason: %v %s", r.Header, body(r))
			}
			break
		}
		if r.StatusCode != http.StatusNoContent || time.Now().After(deadline) {
			t.Fatalf("PATCH while another is in flight: %d %s, want 429", r.StatusCode, body(r))
		}
		select {
		case <-answered:
			c.Close()
			holdFirst()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := c.Write(photo[3<<20:]); err != nil {
		t.Fatal(err)
	}
	<-answered
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first PATCH: %v %v", resp, err)
	}
	if r := s.patch(second, key, s.offset(second, key), photo[100:]); r.StatusCode != http.StatusNoContent && r.StatusCode != http.StatusConflict {
		t.Errorf("PATCH after the first ended: %d %s", r.StatusCode, body(r))
	}
}

// The protocol errors tusd finds itself are answered in the gateway's
// JSON error body too, naming the header at fault (tusd writes them as
// plain text: "ERR_MISMATCHED_OFFSET: mismatched offset").
func TestTusProtocolErrorsAreJSON(t *testing.T) {
	s := startTus(t, tusConfig(t, "file", t.TempDir()))
	photo := imagetest.Fixture(t, "dandelion.jpg")
	loc := s.create(s.Token, len(photo), tusMeta("filename", "dandelion.jpg"))
	for _, c := range []struct {
		name   string
		resp   func() *http.Response
		status int
		field  string
	}{
		{"offset ahead of the upload's", func() *http.Response { return s.patch(loc, s.Token, 5, photo[:10]) }, http.StatusConflict, "Upload-Offset"},
		{"negative length", func() *http.Response {
			return s.do(http.MethodPost, "/v1/tus/", s.Token, map[string]string{"Upload-Length": "-5"}, nil)
		}, http.StatusBadRequest, "Upload-Length"},
		{"deferred length", func() *http.Response {
			return s.do(http.MethodPost, "/v1/tus/", s.Token, map[string]string{"Upload-Defer-Length": "1"}, nil)
		}, http.StatusNotImplemented, "Upload-Defer-Length"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.resp()
			if r.StatusCode != c.status {
				t.Fatalf("%d %s, want %d", r.StatusCode, body(r), c.status)
			}
			e := errorOf(t, r)
			if e.Code != c.status || len(e.Details) != 1 || e.Details[0].Field != c.field || e.Details[0].Reason == "" || strings.Contains(e.Message, "ERR_") {
				t.Errorf("error %+v, want %d naming %s with a reason", e, c.status, c.field)
			}
		})
	}
}
