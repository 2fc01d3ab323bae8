package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"slices"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/services/gateway"
)

// multipartBody is a multipart/form-data body of n "file" parts, each img.
func multipartBody(t *testing.T, n int, img []byte) (contentType string, body []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := range n {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="f`+string(rune('a'+i))+`.png"`)
		h.Set("Content-Type", "image/png")
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write(img)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.Bytes()
}

// route is a request of the API, made with a credential.
type route struct {
	name   string
	method string
	path   string
	hdr    http.Header
	body   func(t *testing.T) io.Reader
	// scope is what the route's service needs: "read", "upload", "admin".
	scope string
	// plainError: the error body is the usual ErrorBody (not a stream
	// error, not a BatchUpload).
	plainError bool
	// calls are the methods it calls, in order.
	calls []string
}

// routes are a route of each kind that calls a service: grpc-gateway
// unary and stream, SSE, raw and multipart uploads (one file: its error;
// several: a BatchUpload), an admin route.
func routes(t *testing.T, e *env) []route {
	img := pngImage(t)
	id := e.create(t, "", pb.ImageState_IMAGE_STATE_READY)
	ct1, mp1 := multipartBody(t, 1, img)
	ct2, mp2 := multipartBody(t, 2, img)
	bytesOf := func(b []byte) func(*testing.T) io.Reader {
		return func(*testing.T) io.Reader { return bytes.NewReader(b) }
	}
	return []route{
		{name: "grpc-gateway", method: "GET", path: "/v1/images/" + id, scope: "read", plainError: true, calls: []string{"GetImage"}},
		{name: "grpc-gateway stream", method: "GET", path: "/v1/images/" + id + ":watch", scope: "read", calls: []string{"WatchImage"}},
		{name: "SSE", method: "GET", path: "/v1/images/" + id + ":watch", hdr: http.Header{"Accept": {"text/event-stream"}}, scope: "read", plainError: true, calls: []string{"WatchImage"}},
		// The image stays QUEUED (no processor); ingest waits for a raw
		// upload, the gateway watches a multipart one's.
		{name: "upload", method: "POST", path: "/v1/images?wait=100ms", hdr: http.Header{"Content-Type": {"image/png"}}, body: bytesOf(img), scope: "upload", plainError: true, calls: []string{"Upload"}},
		{name: "multipart", method: "POST", path: "/v1/images?wait=100ms", hdr: http.Header{"Content-Type": {ct1}}, body: bytesOf(mp1), scope: "upload", plainError: true, calls: []string{"Upload", "WatchImage"}},
		{name: "multipart batch", method: "POST", path: "/v1/images", hdr: http.Header{"Content-Type": {ct2}}, body: bytesOf(mp2), scope: "upload", calls: []string{"Upload", "Upload"}},
		{name: "admin", method: "POST", path: "/v1/admin/dead-letters:purge", hdr: http.Header{"Content-Type": {"application/json"}}, body: bytesOf([]byte(`{"all":true}`)), scope: "admin", plainError: true, calls: []string{"PurgeDeadLetters"}},
	}
}

func (rt route) do(t *testing.T, e *env, authorization string) *http.Response {
	t.Helper()
	hdr := http.Header{"Authorization": {authorization}}
	for k, v := range rt.hdr {
		hdr[k] = v
	}
	var body io.Reader
	if rt.body != nil {
		body = rt.body(t)
	}
	return e.do(t, context.Background(), rt.method, rt.path, hdr, body)
}

// Every route passes the caller's Authorization to the services as
// "authorization" metadata, once, and nothing logs it.
func TestCredentialForwarded(t *testing.T) {
	e := newEnv(t, envOptions{admin: true})
	for _, rt := range routes(t, e) {
		t.Run(rt.name, func(t *testing.T) {
			e.takeCalls()
			resp := rt.do(t, e, "Bearer "+keyAdmin)
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotImplemented { // AdminService implements nothing
				t.Fatalf("%d", resp.StatusCode)
			}
			calls := e.takeCalls()
			var methods []string
			for _, c := range calls {
				methods = append(methods, path.Base(c.method))
			}
			if !slices.Equal(methods, rt.calls) {
				t.Errorf("calls %v, want %v", methods, rt.calls)
			}
			for _, c := range calls {
				if got := c.md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+keyAdmin {
					t.Errorf("%s: authorization %q", c.method, got)
				}
				if got := c.md.Get("grpcgateway-authorization"); len(got) != 0 {
					t.Errorf("%s: a second copy of the credential: %q", c.method, got)
				}
			}
		})
	}
	if strings.Contains(e.log.String(), keyAdmin) {
		t.Errorf("the credential is in the log:\n%s", e.log)
	}
}

// A refused credential is 401 with a Bearer challenge (invalid_token when
// one was sent), a missing scope 403, on every kind of route; the error is
// the usual JSON.
func TestAuthErrors(t *testing.T) {
	e := newEnv(t, envOptions{admin: true})
	const realm = `Bearer realm="imagepipe"`
	creds := []struct {
		name, authorization string
		code                func(scope string) int
		challenge           string
	}{
		{"none", "", func(string) int { return http.StatusUnauthorized }, realm},
		{"unknown key", "Bearer ipk_nobody", func(string) int { return http.StatusUnauthorized }, realm + `, error="invalid_token"`},
		{"not bearer", "Basic dXNlcjpwYXNz", func(string) int { return http.StatusUnauthorized }, realm + `, error="invalid_token"`},
		{"reader", "Bearer " + keyReader, func(scope string) int {
			if scope == "read" {
				return http.StatusOK
			}
			return http.StatusForbidden
		}, ""},
	}
	for _, rt := range routes(t, e) {
		for _, c := range creds {
			want := c.code(rt.scope)
			if want == http.StatusOK {
				continue
			}
			t.Run(rt.name+"/"+c.name, func(t *testing.T) {
				resp := rt.do(t, e, c.authorization)
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != want {
					t.Fatalf("%d %s, want %d", resp.StatusCode, body, want)
				}
				challenge := ""
				if want == http.StatusUnauthorized {
					challenge = c.challenge
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != challenge {
					t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
				}
				wantStatus := map[int]string{401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}[want]
				if rt.plainError {
					var eb gateway.ErrorBody
					if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != want || eb.Error.Status != wantStatus || eb.Error.Message == "" {
						t.Errorf("body %s: %v", body, err)
					}
				}
				if rt.name == "multipart batch" {
					var bu gateway.BatchUpload
					if err := json.Unmarshal(body, &bu); err != nil || len(bu.Images) != 0 || len(bu.Errors) != 2 || bu.Errors[0].Error.Status != wantStatus {
						t.Errorf("body %s: %v", body, err)
					}
				}
			})
		}
	}
}
