package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/services/gateway"
)

// A request that changes state has a JSON body, or an upload's, or none: a
// form another site's page could send is 415 before any gRPC call.
func TestContentType(t *testing.T) {
	e := newEnv(t, envOptions{admin: true})
	img := pngImage(t)
	mpType, mpBody := multipartBody(t, 1, img)
	const purge = "/v1/admin/dead-letters:purge"
	cases := []struct {
		name, method, path, contentType string
		body                            io.Reader
		refused                         bool
	}{
		{"purge as text/plain", "POST", purge, "text/plain", strings.NewReader(`{"all":true}`), true},
		{"purge as a form", "POST", purge, "application/x-www-form-urlencoded", strings.NewReader(`all=true`), true},
		{"purge as multipart", "POST", purge, mpType, bytes.NewReader(mpBody), true},
		{"purge, JSON in latin1", "POST", purge, "application/json; charset=iso-8859-1", strings.NewReader(`{"all":true}`), true},
		{"purge, JSON with another parameter", "POST", purge, "application/json; profile=x", strings.NewReader(`{"all":true}`), true},
		{"purge, bad header", "POST", purge, "application/json;;", strings.NewReader(`{"all":true}`), true},
		{"purge as JSON", "POST", purge, "application/json", strings.NewReader(`{"all":true}`), false},
		{"purge as JSON, utf-8", "POST", purge, "application/json; charset=UTF-8", strings.NewReader(`{"all":true}`), false},
		{"revoke, no body", "POST", "/v1/admin/keys/k1:revoke", "", nil, false},
		{"revoke, a body without type", "POST", "/v1/admin/keys/k1:revoke", "", strings.NewReader(`{}`), true},
		// io.MultiReader hides the length: the body is sent chunked.
		{"revoke, a chunked body without type", "POST", "/v1/admin/keys/k1:revoke", "", io.MultiReader(strings.NewReader(`{}`)), true},
		{"revoke, an empty chunked body", "POST", "/v1/admin/keys/k1:revoke", "", io.MultiReader(), false},
		{"delete, no body", "DELETE", "/v1/images/01a1ff50-8b2a-7e2e-8551-947056a03ce5", "", nil, false},
		{"delete, a form", "DELETE", "/v1/images/01a1ff50-8b2a-7e2e-8551-947056a03ce5", "application/x-www-form-urlencoded", strings.NewReader("a=b"), true},
		{"upload URL as text/plain", "POST", "/v1/uploads", "text/plain", strings.NewReader(`{}`), true},
		{"upload URL as JSON", "POST", "/v1/uploads", "application/json", strings.NewReader(`{}`), false},
		{"upload as text/plain", "POST", "/v1/images?wait=0", "text/plain", bytes.NewReader(img), true},
		{"upload as a form", "POST", "/v1/images?wait=0", "application/x-www-form-urlencoded", strings.NewReader("file=x"), true},
		{"upload as JSON", "POST", "/v1/images?wait=0", "application/json", strings.NewReader(`{}`), true},
		{"upload as image/png", "POST", "/v1/images?wait=0", "image/png", bytes.NewReader(img), false},
		{"upload as octet-stream", "POST", "/v1/images?wait=0", "application/octet-stream", bytes.NewReader(img), false},
		{"upload as multipart", "POST", "/v1/images?wait=0", mpType, bytes.NewReader(mpBody), false},
		{"upload without type", "POST", "/v1/images?wait=0", "", bytes.NewReader(img), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.takeCalls()
			resp := e.do(t, context.Background(), c.method, c.path, http.Header{"Content-Type": {c.contentType}}, c.body)
			body, _ := io.ReadAll(resp.Body)
			calls := e.takeCalls()
			if !c.refused {
				if resp.StatusCode == http.StatusUnsupportedMediaType || len(calls) == 0 {
					t.Errorf("%d %s, %d calls; want the request to reach its service", resp.StatusCode, body, len(calls))
				}
				return
			}
			var eb gateway.ErrorBody
			if resp.StatusCode != http.StatusUnsupportedMediaType || json.Unmarshal(body, &eb) != nil || eb.Error.Field != "Content-Type" {
				t.Errorf("%d %s; want 415 naming Content-Type", resp.StatusCode, body)
			}
			if len(calls) != 0 {
				t.Errorf("refused, yet %s was called", calls[0].method)
			}
		})
	}
}
