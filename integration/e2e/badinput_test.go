package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// Every bad request gets its own status, reason and field, and leaves
// nothing behind.
func TestBadUploadsAreRefusedClearly(t *testing.T) {
	s := sharedServer(t)
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	cases := []struct {
		name        string
		query       string
		contentType string
		body        []byte
		code        int
		reason      string
		field       string
	}{
		{"empty body", "", "image/jpeg", nil, 400, "EMPTY_BODY", "body"},
		{"text claiming to be a JPEG", "", "image/jpeg", []byte("hello, I am definitely a photo"), 415, "UNSUPPORTED_FORMAT", "body"},
		{"SVG", "", "image/svg+xml", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), 415, "UNSUPPORTED_FORMAT", "body"},
		{"PDF", "", "application/octet-stream", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), 415, "UNSUPPORTED_FORMAT", "body"},
		{"wrong Content-Type", "", "text/plain", jpeg, 415, "UNSUPPORTED_FORMAT", "Content-Type"},
		{"unknown preset", "?preset=poster", "image/jpeg", jpeg, 400, "INVALID_FIELD", "preset"},
		{"preset and spec", `?preset=default&spec={"variants":[{"name":"a","width":10,"format":"FORMAT_PNG"}]}`, "image/jpeg", jpeg, 400, "INVALID_FIELD", "spec"},
		{"spec not JSON", "?spec=nope", "image/jpeg", jpeg, 400, "INVALID_FIELD", "spec"},
		{"spec width out of range", `?spec={"variants":[{"name":"a","width":99999,"format":"FORMAT_PNG"}]}`, "image/jpeg", jpeg, 400, "INVALID_FIELD", "spec.variants[0].width"},
		{"spec without format", `?spec={"variants":[{"name":"a","width":100}]}`, "image/jpeg", jpeg, 400, "INVALID_FIELD", "spec.variants[0].format"},
		{"spec duplicate names", `?spec={"variants":[{"name":"a","width":10,"format":"FORMAT_PNG"},{"name":"a","width":20,"format":"FORMAT_PNG"}]}`, "image/jpeg", jpeg, 400, "INVALID_FIELD", "spec.variants[1].name"},
		{"spec cover without height", `?spec={"variants":[{"name":"a","width":10,"fit":"FIT_COVER","format":"FORMAT_PNG"}]}`, "image/jpeg", jpeg, 400, "INVALID_FIELD", "spec.variants[0].fit"},
		{"bad wait", "?wait=forever", "image/jpeg", jpeg, 400, "INVALID_FIELD", "wait"},
		{"wait too long", "?wait=1h", "image/jpeg", jpeg, 400, "INVALID_FIELD", "wait"},
		{"bad batch id", "?batch_id=no/slashes", "image/jpeg", jpeg, 400, "INVALID_FIELD", "batch_id"},
	}
	originals := filepath.Join(s.Cfg.DataDir, "originals")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := countFiles(t, originals)
			r := s.post(t, "/v1/images"+strings.ReplaceAll(c.query, `"`, "%22"), c.contentType, bytes.NewReader(c.body))
			e := r.errorBody(t)
			if r.code != c.code || e.Error.Code != c.code || e.Error.Reason != c.reason || e.Error.Field != c.field {
				t.Errorf("got %d %s field %q (%s), want %d %s field %q", r.code, e.Error.Reason, e.Error.Field, e.Error.Message, c.code, c.reason, c.field)
			}
			if e.Error.Status != "INVALID_ARGUMENT" {
				t.Errorf("gRPC status %q, want INVALID_ARGUMENT", e.Error.Status)
			}
			if e.Error.Message == "" || strings.Contains(e.Error.Message, s.Cfg.DataDir) || strings.Contains(e.Error.Message, "sqlite") {
				t.Errorf("message %q: empty, or leaks internals", e.Error.Message)
			}
			if after := countFiles(t, originals); after != before {
				t.Errorf("%d files in the originals store after a refused upload, %d before", after, before)
			}
		})
	}
}

// A body over the limit is cut off while streaming: 413, nothing kept.
func TestUploadOverTheLimitKeepsNothing(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Ingest.MaxBytes = 1 << 20
	s := start(t, cfg)
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	// A real JPEG header followed by 3 MiB: refused by size, not by format.
	body := io.MultiReader(bytes.NewReader(jpeg), io.LimitReader(rand.Reader, 3<<20))
	r := s.post(t, "/v1/images", "image/jpeg", body)
	e := r.errorBody(t)
	if r.code != http.StatusRequestEntityTooLarge || e.Error.Reason != "TOO_LARGE" || e.Error.Status != "RESOURCE_EXHAUSTED" {
		t.Fatalf("got %d %+v, want 413 TOO_LARGE", r.code, e.Error)
	}
	if n := countFiles(t, filepath.Join(cfg.DataDir, "originals")); n != 0 {
		t.Errorf("%d files left in the originals store", n)
	}
	// The server is still fine.
	if r := s.post(t, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(jpeg)); r.code != http.StatusOK {
		t.Errorf("next upload: %d %s", r.code, r.body)
	}
}

// Data that starts like an image but is not one is accepted, then FAILED
// with a reason, and never retried.
func TestUndecodableUploadFailsWithReason(t *testing.T) {
	s := sharedServer(t)
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	cases := map[string][]byte{
		"truncated JPEG":    jpeg[:len(jpeg)/3],
		"JPEG magic + junk": append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte("junk"), 400)...),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			r := s.post(t, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(body))
			if r.code != http.StatusOK {
				t.Fatalf("upload: %d %s", r.code, r.body)
			}
			img := r.image(t)
			if img.GetState() != pb.ImageState_IMAGE_STATE_FAILED || img.GetError().GetCode() != "corrupt" || img.GetAttempts() != 1 {
				t.Errorf("%s attempts %d error %v, want FAILED corrupt after 1 attempt", img.GetState(), img.GetAttempts(), img.GetError())
			}
			if len(img.GetVariants()) != 0 {
				t.Errorf("%d variants for a failed image", len(img.GetVariants()))
			}
		})
	}
}

func TestUnknownThingsAre404(t *testing.T) {
	s := sharedServer(t)
	for _, path := range []string{
		"/v1/images/01a1ff50-8b2a-7e2e-8551-947056a03ce5",
		"/v1/images/not-an-id",
		"/v1/batches/nobody",
		"/a/01a1ff50-8b2a-7e2e-8551-947056a03ce5/thumb",
		"/a/not-an-id/thumb",
		"/a/01a1ff50-8b2a-7e2e-8551-947056a03ce5/..",
		"/nothing/here",
	} {
		if r := s.get(t, path); r.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, r.code)
		}
	}
	// An existing image's original is never served, whatever the path.
	r := s.post(t, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	id := r.image(t).GetId()
	for _, path := range []string{"/a/" + id, "/a/" + id + "/original", "/a/" + id + "/"} {
		if r := s.get(t, path); r.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, r.code)
		}
	}
}

// A multipart body cut off before its closing boundary is refused; the
// partial file is not kept as an original.
func TestTruncatedMultipartKeepsNothing(t *testing.T) {
	cfg := testConfig(t.TempDir())
	s := start(t, cfg)
	body, ct := multipartBody(t, map[string][]byte{"a.jpg": imagetest.Fixture(t, "dandelion.jpg")})
	cut := body.Bytes()[:body.Len()/2]
	r := s.post(t, "/v1/images", ct, bytes.NewReader(cut))
	e := r.errorBody(t)
	if r.code != http.StatusBadRequest || e.Error.Reason != "BAD_BODY" {
		t.Fatalf("got %d %+v, want 400 BAD_BODY", r.code, e.Error)
	}
	// The gateway cancels the ingest stream and answers at once; ingest
	// removes its partial write when it sees the cancellation.
	deadline := time.Now().Add(5 * time.Second)
	for countFiles(t, filepath.Join(cfg.DataDir, "originals")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d files still in the originals store 5s after the refusal", countFiles(t, filepath.Join(cfg.DataDir, "originals")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Refused parts of a multipart upload do not hide the accepted ones: the
// client learns every image id and every refusal.
func TestMultipartReportsAcceptedAndRefusedParts(t *testing.T) {
	s := sharedServer(t)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "good.jpg")
	fw.Write(imagetest.Fixture(t, "dandelion.jpg"))
	mw.WriteField("colour", "blue")
	fw, _ = mw.CreateFormFile("file", "notes.txt")
	fw.Write([]byte("these are not pixels"))
	mw.Close()
	r := s.post(t, "/v1/images", mw.FormDataContentType(), &buf)
	if r.code != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202", r.code, r.body)
	}
	var out struct {
		BatchID string            `json:"batch_id"`
		Images  []json.RawMessage `json:"images"`
		Errors  []struct {
			FileName string `json:"file_name"`
			Error    struct {
				Code   int    `json:"code"`
				Reason string `json:"reason"`
				Field  string `json:"field"`
			} `json:"error"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if out.BatchID == "" || len(out.Images) != 1 || len(out.Errors) != 2 {
		t.Fatalf("batch %q, %d images, %d errors; want 1 image and 2 errors:\n%s", out.BatchID, len(out.Images), len(out.Errors), r.body)
	}
	if e := out.Errors[0].Error; e.Code != 400 || e.Field != "colour" {
		t.Errorf("unknown field refused as %+v", e)
	}
	if e := out.Errors[1]; e.FileName != "notes.txt" || e.Error.Code != 415 || e.Error.Reason != "UNSUPPORTED_FORMAT" {
		t.Errorf("text file refused as %+v", e)
	}
}

// Direct uploads need a store that can presign (S3); the embedded
// filesystem store cannot, and says so.
func TestDirectUploadNeedsS3(t *testing.T) {
	s := sharedServer(t)
	r := s.post(t, "/v1/uploads", "application/json", strings.NewReader(`{"file_name":"a.jpg","content_type":"image/jpeg"}`))
	e := r.errorBody(t)
	if r.code != http.StatusBadRequest || e.Error.Reason != "DIRECT_UPLOAD_UNAVAILABLE" || e.Error.Status != "FAILED_PRECONDITION" {
		t.Errorf("got %d %+v, want 400 DIRECT_UPLOAD_UNAVAILABLE", r.code, e.Error)
	}
}
