package e2e_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// shared is the all-in-one server most tests use, started by TestMain.
var shared *server

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		runChild(dir) // never returns
	}
	dir, err := os.MkdirTemp("", "imagepipe-e2e-")
	if err != nil {
		panic(err)
	}
	shared, err = launch(testConfig(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	shared.Kill()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "logs of the shared server:\n%s", shared.Logs.String())
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func sharedServer(t *testing.T) *server {
	t.Helper()
	return shared
}

// wantVariant is what the default preset must produce from a source of
// w x h pixels (after EXIF orientation).
type wantVariant struct {
	format sniff.Format
	w, h   int
}

func defaultPresetOutputs(w, h int) map[string]wantVariant {
	within := func(box int) (int, int) {
		if w <= box && h <= box {
			return w, h // never upscaled
		}
		if w >= h {
			return box, (h*box + w/2) / w
		}
		return (w*box + h/2) / h, box
	}
	mw, mh := within(800)
	lw, lh := within(1600)
	return map[string]wantVariant{
		"thumb":  {sniff.PNG, 64, 64},
		"medium": {sniff.WebP, mw, mh},
		"large":  {sniff.WebP, lw, lh},
	}
}

// checkVariants fetches every variant of a READY image and checks format,
// dimensions, stripped metadata, caching headers and likeness to the source.
func checkVariants(t *testing.T, s *server, img *pb.Image, source []byte, srcW, srcH int) {
	t.Helper()
	if img.GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Fatalf("state %s (%v), want READY", img.GetState(), img.GetError())
	}
	want := defaultPresetOutputs(srcW, srcH)
	if len(img.GetVariants()) != len(want) {
		t.Fatalf("%d variants, want %d", len(img.GetVariants()), len(want))
	}
	srcHash := imagetest.PHash(t, source)
	for _, v := range img.GetVariants() {
		w, ok := want[v.GetName()]
		if !ok {
			t.Errorf("unexpected variant %q", v.GetName())
			continue
		}
		r := s.get(t, assetPath(t, v.GetUrl()))
		if r.code != http.StatusOK {
			t.Fatalf("GET %s: %d", v.GetUrl(), r.code)
		}
		info := imagetest.Decode(t, r.body)
		if info.Format != w.format || r.header.Get("Content-Type") != w.format.MIME() {
			t.Errorf("%s: format %s, Content-Type %q, want %s", v.GetName(), info.Format, r.header.Get("Content-Type"), w.format)
		}
		if abs(info.Width-w.w) > 1 || abs(info.Height-w.h) > 1 {
			t.Errorf("%s: %dx%d, want %dx%d", v.GetName(), info.Width, info.Height, w.w, w.h)
		}
		if int(v.GetWidth()) != info.Width || int(v.GetHeight()) != info.Height || v.GetBytes() != int64(len(r.body)) {
			t.Errorf("%s: record says %dx%d %d bytes, file is %dx%d %d bytes", v.GetName(),
				v.GetWidth(), v.GetHeight(), v.GetBytes(), info.Width, info.Height, len(r.body))
		}
		if info.HasMetadata() {
			t.Errorf("%s: metadata left in the variant (exif %v, gps %v, xmp %v)", v.GetName(), info.HasEXIF, info.HasGPS, info.HasXMP)
		}
		if v.GetName() != "thumb" { // a 64px centre crop is not comparable
			if d := imagetest.Distance(srcHash, imagetest.PHash(t, r.body)); d > 10 {
				t.Errorf("%s: pHash distance %d from the source, want <= 10", v.GetName(), d)
			}
		}
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", v.GetName(), cc)
		}
		etag := r.header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", v.GetName())
		}
		req, _ := http.NewRequest(http.MethodGet, s.Base+assetPath(t, v.GetUrl()), nil)
		req.Header.Set("If-None-Match", etag)
		if r := do(t, req); r.code != http.StatusNotModified || len(r.body) != 0 {
			t.Errorf("%s: If-None-Match answered %d with %d bytes, want 304 and none", v.GetName(), r.code, len(r.body))
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestUploadRawJPEGBecomesReady(t *testing.T) {
	s := sharedServer(t)
	src := imagetest.Fixture(t, "dandelion.jpg")
	srcInfo := imagetest.Decode(t, src)
	if !srcInfo.HasGPS {
		t.Fatal("fixture dandelion.jpg should carry GPS EXIF, or this test proves nothing")
	}
	r := s.post(t, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(src))
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	img := r.image(t)
	if img.GetOriginal().GetFormat() != pb.Format_FORMAT_JPEG || img.GetOriginal().GetBytes() != int64(len(src)) ||
		int(img.GetOriginal().GetWidth()) != srcInfo.Width || img.GetPreset() != "default" || len(img.GetOriginal().GetSha256()) != 64 {
		t.Errorf("original recorded as %v", img.GetOriginal())
	}
	checkVariants(t, s, img, src, srcInfo.Width, srcInfo.Height)
	if got := s.get(t, "/v1/images/"+img.GetId()).image(t); got.GetState() != pb.ImageState_IMAGE_STATE_READY || len(got.GetVariants()) != 3 {
		t.Errorf("GET /v1/images/{id}: %s with %d variants", got.GetState(), len(got.GetVariants()))
	}
}

func TestUploadPNGMultipartSingleFile(t *testing.T) {
	s := sharedServer(t)
	src := imagetest.Fixture(t, "coffee.png")
	info := imagetest.Decode(t, src)
	body, ct := multipartBody(t, map[string][]byte{"coffee.png": src})
	r := s.post(t, "/v1/images?wait=30s", ct, body)
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	img := r.image(t)
	if img.GetOriginal().GetFileName() != "coffee.png" || img.GetOriginal().GetFormat() != pb.Format_FORMAT_PNG {
		t.Errorf("original %v", img.GetOriginal())
	}
	checkVariants(t, s, img, src, info.Width, info.Height)
}

// A photo stored sideways (900x1600 pixels) with EXIF Orientation 6 comes
// out upright: landscape, and looking like the upright original.
func TestUploadAppliesEXIFOrientation(t *testing.T) {
	s := sharedServer(t)
	src := imagetest.Fixture(t, "dandelion-orient6.jpg")
	stored := imagetest.Decode(t, src)
	if stored.Orientation != 6 || stored.Width >= stored.Height {
		t.Fatalf("fixture: orientation %d, stored %dx%d; want 6 and portrait pixels", stored.Orientation, stored.Width, stored.Height)
	}
	upright := imagetest.Fixture(t, "dandelion.jpg")
	r := s.post(t, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(src))
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	img := r.image(t)
	if int(img.GetOriginal().GetWidth()) != stored.Height || int(img.GetOriginal().GetHeight()) != stored.Width {
		t.Errorf("original recorded %dx%d, want %dx%d after orientation", img.GetOriginal().GetWidth(), img.GetOriginal().GetHeight(), stored.Height, stored.Width)
	}
	checkVariants(t, s, img, upright, stored.Height, stored.Width)
}

func TestUploadWithoutWaitAnswers202(t *testing.T) {
	s := sharedServer(t)
	r := s.post(t, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	img := r.image(t)
	if loc := r.header.Get("Location"); loc != "/v1/images/"+img.GetId() {
		t.Errorf("Location %q", loc)
	}
	if st := img.GetState(); st != pb.ImageState_IMAGE_STATE_QUEUED && st != pb.ImageState_IMAGE_STATE_PROCESSING {
		t.Errorf("state %s right after upload", st)
	}
	if got := s.waitTerminal(t, img.GetId(), 30*time.Second); got.GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Errorf("ended %s: %v", got.GetState(), got.GetError())
	}
}

func TestBatchUploadCountsEveryImage(t *testing.T) {
	s := sharedServer(t)
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	body, ct := multipartBody(t, map[string][]byte{
		"a.jpg":         jpeg,
		"b.png":         imagetest.Fixture(t, "chelsea-alpha.png"),
		"truncated.jpg": jpeg[:len(jpeg)/2],
	})
	r := s.post(t, "/v1/images?batch_id=holiday-2026", ct, body)
	if r.code != http.StatusAccepted {
		t.Fatalf("batch upload: %d %s", r.code, r.body)
	}
	if !strings.Contains(string(r.body), `"batch_id":"holiday-2026"`) || r.header.Get("Location") != "/v1/batches/holiday-2026" {
		t.Errorf("batch answer %s, Location %q", r.body, r.header.Get("Location"))
	}
	deadline := time.Now().Add(60 * time.Second)
	var batch *pb.Batch
	for {
		br := s.get(t, "/v1/batches/holiday-2026")
		if br.code != http.StatusOK {
			t.Fatalf("GET batch: %d %s", br.code, br.body)
		}
		batch = &pb.Batch{}
		if err := unmarshal(br.body, batch); err != nil {
			t.Fatal(err)
		}
		if batch.GetState() != pb.BatchState_BATCH_STATE_PENDING || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if batch.GetState() != pb.BatchState_BATCH_STATE_PARTIALLY_FAILED || batch.GetTotal() != 3 ||
		batch.GetCounts()["IMAGE_STATE_READY"] != 2 || batch.GetCounts()["IMAGE_STATE_FAILED"] != 1 {
		t.Fatalf("batch %s total %d counts %v, want PARTIALLY_FAILED 3 {READY:2 FAILED:1}", batch.GetState(), batch.GetTotal(), batch.GetCounts())
	}
	for _, im := range batch.GetImages() {
		if im.GetFileName() == "truncated.jpg" && (im.GetState() != pb.ImageState_IMAGE_STATE_FAILED || im.GetError().GetCode() != "corrupt") {
			t.Errorf("truncated.jpg: %s %v, want FAILED corrupt", im.GetState(), im.GetError())
		}
	}
	lr := s.get(t, "/v1/batches/holiday-2026/images?page_size=2")
	var list pb.ListImagesResponse
	if err := unmarshal(lr.body, &list); err != nil || len(list.GetImages()) != 2 || list.GetNextPageToken() == "" {
		t.Errorf("first page: %d images, token %q, err %v", len(list.GetImages()), list.GetNextPageToken(), err)
	}
}

func multipartBody(t *testing.T, files map[string][]byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, data := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
		h.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// countFiles counts the regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
