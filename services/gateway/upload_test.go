package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/services/gateway"
)

// The upload's visibility reaches the ingest service, raw or multipart; a
// bad one is 400 naming it, before any call.
func TestUploadVisibility(t *testing.T) {
	e := newEnv(t, envOptions{})
	img := pngImage(t)
	mpType, mpBody := multipartBody(t, 1, img)
	cases := []struct {
		name, query, contentType string
		body                     []byte
		code                     int
		want                     pb.Visibility
	}{
		{"raw, private", "visibility=private", "image/png", img, http.StatusAccepted, pb.Visibility_VISIBILITY_PRIVATE},
		{"raw, public", "visibility=public", "image/png", img, http.StatusAccepted, pb.Visibility_VISIBILITY_PUBLIC},
		{"raw, default", "", "image/png", img, http.StatusAccepted, pb.Visibility_VISIBILITY_UNSPECIFIED},
		{"multipart, private", "visibility=private", mpType, mpBody, http.StatusAccepted, pb.Visibility_VISIBILITY_PRIVATE},
		{"raw, bad", "visibility=hidden", "image/png", img, http.StatusBadRequest, 0},
		{"multipart, bad", "visibility=hidden", mpType, mpBody, http.StatusBadRequest, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.takeCalls()
			resp := e.do(t, context.Background(), "POST", "/v1/images?wait=0&"+c.query, http.Header{"Content-Type": {c.contentType}}, bytes.NewReader(c.body))
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, c.code)
			}
			calls := e.takeCalls()
			if c.code == http.StatusBadRequest {
				var eb gateway.ErrorBody
				if json.Unmarshal(body, &eb) != nil || eb.Error.Field != "visibility" || len(calls) != 0 {
					t.Errorf("%s, %d calls; want an invalid visibility and none", body, len(calls))
				}
				return
			}
			if len(calls) != 1 || calls[0].upload.GetVisibility() != c.want {
				t.Errorf("calls %v, want one upload with visibility %v", calls, c.want)
			}
		})
	}
}

// Visibility is a query parameter, not a form field.
func TestUploadVisibilityFormField(t *testing.T) {
	e := newEnv(t, envOptions{})
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("visibility", "private")
	_ = mw.Close()
	resp := e.do(t, context.Background(), "POST", "/v1/images", http.Header{"Content-Type": {mw.FormDataContentType()}}, &b)
	var eb gateway.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || resp.StatusCode != http.StatusBadRequest || eb.Error.Field != "visibility" {
		t.Errorf("%d %+v %v; want 400 naming visibility", resp.StatusCode, eb, err)
	}
}
