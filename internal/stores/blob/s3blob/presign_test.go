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

// postForm sends a multipart POST of fields and then the file, as a
// browser form would.
func postForm(t *testing.T, p blob.PostPolicy, body string) (int, string) {
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

// A POST policy uploads without credentials, refused by the server itself
// over the size limit or with another Content-Type; a presigned GET
// downloads.
func TestPresign(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := srv.store(t, "pre", s3blob.Options{})
	const key, body = "uploads/photo.jpg", "\xff\xd8\xff not really a jpeg"

	p, err := s.PresignPost(t.Context(), key, "image/jpeg", int64(len(body)), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields["Content-Type"] != "image/jpeg" {
		t.Errorf("fields %v, want Content-Type image/jpeg among them", p.Fields)
	}
	if code, resp := postForm(t, p, body+"x"); code < 400 {
		t.Errorf("POST one byte over the limit: HTTP %d %s, want refused", code, resp)
	}
	if _, err := s.Head(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("a refused POST left an object: %v", err)
	}
	wrongType := blob.PostPolicy{URL: p.URL, Fields: map[string]string{}}
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
		key      string
		ttl      time.Duration
		maxBytes int64
		wantErr  error // nil: any error
	}{
		{"ok", 0, 1, nil},
		{"ok", -time.Second, 1, nil},
		{"ok", s3blob.MaxPresignTTL + time.Second, 1, nil},
		{"../x", time.Minute, 1, blob.ErrInvalidKey},
		{".s3blob-staging/x", time.Minute, 1, blob.ErrInvalidKey},
		{"ok", time.Minute, 0, nil}, // PresignGet takes no limit: only the POST fails
	}
	for _, tc := range tests {
		_, gerr := s.PresignGet(t.Context(), tc.key, tc.ttl)
		_, perr := s.PresignPost(t.Context(), tc.key, "", tc.maxBytes, tc.ttl)
		errs := map[string]error{"PresignPost": perr}
		if tc.maxBytes > 0 {
			errs["PresignGet"] = gerr
		}
		for op, err := range errs {
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%s(%q, %v, max %d) error = %v, want %v", op, tc.key, tc.ttl, tc.maxBytes, err, tc.wantErr)
			}
		}
	}
}
