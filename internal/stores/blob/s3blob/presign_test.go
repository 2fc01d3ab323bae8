package s3blob_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
)

// do sends a request with a plain HTTP client, without AWS credentials,
// and returns the status and body.
func do(t *testing.T, method, url, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestPresign(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := srv.store(t, "pre", s3blob.Options{})
	const key, body = "uploads/photo.jpg", "\xff\xd8\xff not really a jpeg"

	put, err := s.PresignPut(t.Context(), key, "image/jpeg", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, resp := do(t, http.MethodPut, put, "text/plain", "wrong type"); code != http.StatusForbidden {
		t.Errorf("presigned PUT with another Content-Type: HTTP %d %s, want 403", code, resp)
	}
	if code, resp := do(t, http.MethodPut, put, "image/jpeg", body); code != http.StatusOK {
		t.Fatalf("presigned PUT: HTTP %d %s", code, resp)
	}
	md5sum := md5.Sum([]byte(body))
	wantObject(t, s, key, []byte(body), blob.Attrs{
		Key: key, Size: int64(len(body)), ContentType: "image/jpeg", ETag: hex.EncodeToString(md5sum[:]),
	})

	get, err := s.PresignGet(t.Context(), key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, resp := do(t, http.MethodGet, get, "", ""); code != http.StatusOK || resp != body {
		t.Errorf("presigned GET: HTTP %d %q, want 200 %q", code, resp, body)
	}
	missing, err := s.PresignGet(t.Context(), "no/such/key", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, http.MethodGet, missing, "", ""); code != http.StatusNotFound {
		t.Errorf("presigned GET of a missing key: HTTP %d, want 404", code)
	}
	srv.wantKeys(t, "pre/"+key)
}

func TestPresignRejects(t *testing.T) {
	s, err := s3blob.New(t.Context(), awsConfig(), "bucket", "", s3blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key     string
		ttl     time.Duration
		wantErr error // nil: any error
	}{
		{"ok", 0, nil},
		{"ok", -time.Second, nil},
		{"ok", s3blob.MaxPresignTTL + time.Second, nil},
		{"../x", time.Minute, blob.ErrInvalidKey},
		{".s3blob-staging/x", time.Minute, blob.ErrInvalidKey},
	}
	for _, tc := range tests {
		_, gerr := s.PresignGet(t.Context(), tc.key, tc.ttl)
		_, perr := s.PresignPut(t.Context(), tc.key, "", tc.ttl)
		for op, err := range map[string]error{"PresignGet": gerr, "PresignPut": perr} {
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%s(%q, %v) error = %v, want %v", op, tc.key, tc.ttl, err, tc.wantErr)
			}
		}
	}
}

// postForm sends a multipart POST of fields and then the file, as a
// browser form would.
func postForm(t *testing.T, p s3blob.PostPolicy, body string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range p.Fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(fw, body)
	mw.Close()
	return do(t, http.MethodPost, p.URL, mw.FormDataContentType(), buf.String())
}

func TestPresignPost(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := srv.store(t, "post", s3blob.Options{})
	const key, body = "uploads/photo.jpg", "\xff\xd8\xff not really a jpeg"

	p, err := s.PresignPost(t.Context(), key, "image/jpeg", int64(len(body)), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, resp := postForm(t, p, body+"x"); code < 400 {
		t.Errorf("POST one byte over the limit: HTTP %d %s, want refused", code, resp)
	}
	if _, err := s.Head(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("a refused POST left an object: %v", err)
	}
	wrongType := s3blob.PostPolicy{URL: p.URL, Fields: map[string]string{}}
	for k, v := range p.Fields {
		wrongType.Fields[k] = v
	}
	wrongType.Fields["Content-Type"] = "text/html"
	if code, resp := postForm(t, wrongType, body); code < 400 {
		t.Errorf("POST with another Content-Type: HTTP %d %s, want refused", code, resp)
	}
	if code, resp := postForm(t, p, body); code >= 300 {
		t.Fatalf("POST within the limit: HTTP %d %s", code, resp)
	}
	got, attrs, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	b, _ := io.ReadAll(got)
	if string(b) != body || attrs.ContentType != "image/jpeg" {
		t.Errorf("stored %q (%s), want the body as image/jpeg", b, attrs.ContentType)
	}
}
