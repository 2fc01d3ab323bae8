package gateway_test

import (
	"context"
	"flag"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/services/gateway"
)

const appOrigin = "https://app.example.com"

// corsHeaders are the response's Access-Control-* headers.
func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}

// preflight sends the OPTIONS a browser sends before a cross-origin
// request.
func preflight(t *testing.T, e *env, origin, method, headers string) *http.Response {
	t.Helper()
	return e.do(t, context.Background(), http.MethodOptions, "/v1/images", http.Header{
		"Authorization":                  {""}, // a browser sends none
		"Origin":                         {origin},
		"Access-Control-Request-Method":  {method},
		"Access-Control-Request-Headers": {headers},
	}, nil)
}

// Without CORS origins, no answer has a CORS header.
func TestCORSOff(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.create(t, "", pb.ImageState_IMAGE_STATE_READY)
	for name, resp := range map[string]*http.Response{
		"preflight": preflight(t, e, appOrigin, "POST", "authorization"),
		"GET":       e.do(t, context.Background(), "GET", "/v1/images/"+id, http.Header{"Origin": {appOrigin}}, nil),
	} {
		if h := corsHeaders(resp.Header); len(h) != 0 {
			t.Errorf("%s: %v", name, h)
		}
	}
}

// With CORS origins, exactly those get preflights answered and responses
// labelled, for the methods and headers the API uses.
func TestCORS(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.CORSOrigins = []string{appOrigin, "http://localhost:3000"}
	e := newEnv(t, envOptions{cfg: cfg})
	allowed := func(resp *http.Response, origin string) bool {
		return resp.Header.Get("Access-Control-Allow-Origin") == origin
	}
	cases := []struct {
		name, origin, method, headers string
		ok                            bool
	}{
		{"upload", appOrigin, "POST", "authorization,content-type,idempotency-key", true},
		{"SSE resume", "http://localhost:3000", "GET", "authorization,last-event-id", true},
		{"delete", appOrigin, "DELETE", "authorization", true},
		{"traced", appOrigin, "GET", "authorization,traceparent", true},
		{"origin in capitals", "HTTPS://APP.EXAMPLE.COM", "POST", "authorization", true},
		{"other origin", "https://evil.example", "POST", "authorization", false},
		{"origin's subdomain", "https://x.app.example.com", "POST", "authorization", false},
		{"other scheme", "http://app.example.com", "POST", "authorization", false},
		{"other port", "http://localhost:3001", "POST", "authorization", false},
		{"method not used", appOrigin, "PUT", "authorization", false},
		{"header not read", appOrigin, "POST", "authorization,x-debug", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := preflight(t, e, c.origin, c.method, c.headers)
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("status %d", resp.StatusCode)
			}
			if !c.ok {
				if h := corsHeaders(resp.Header); len(h) != 0 {
					t.Errorf("refused preflight answered with %v", h)
				}
				return
			}
			if !allowed(resp, c.origin) || resp.Header.Get("Access-Control-Allow-Methods") != c.method ||
				resp.Header.Get("Access-Control-Allow-Headers") != c.headers || resp.Header.Get("Access-Control-Max-Age") == "" {
				t.Errorf("preflight answered with %v", corsHeaders(resp.Header))
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials mode: bearer tokens need none")
			}
		})
	}

	// The request itself: labelled for an allowed origin, its Location and
	// ETag readable; errors too, so the page can read them.
	resp := e.do(t, context.Background(), "POST", "/v1/images?wait=0", http.Header{"Origin": {appOrigin}, "Content-Type": {"image/png"}}, strings.NewReader(string(pngImage(t))))
	_, _ = io.Copy(io.Discard, resp.Body)
	exposed := strings.Split(resp.Header.Get("Access-Control-Expose-Headers"), ", ")
	if resp.StatusCode != http.StatusAccepted || !allowed(resp, appOrigin) || resp.Header.Get("Location") == "" ||
		!slices.Contains(exposed, "Location") || !slices.Contains(exposed, "Etag") {
		t.Errorf("upload: %d %v", resp.StatusCode, resp.Header)
	}
	resp = e.do(t, context.Background(), "POST", "/v1/images", http.Header{"Origin": {appOrigin}, "Content-Type": {"text/plain"}}, strings.NewReader("x"))
	if resp.StatusCode != http.StatusUnsupportedMediaType || !allowed(resp, appOrigin) {
		t.Errorf("refused upload: %d %v", resp.StatusCode, corsHeaders(resp.Header))
	}
	resp = e.do(t, context.Background(), "GET", "/healthz", http.Header{"Origin": {"https://evil.example"}}, nil)
	if h := corsHeaders(resp.Header); len(h) != 0 {
		t.Errorf("other origin's GET labelled %v", h)
	}
}

// CORS origins are scheme://host[:port], as browsers send them; anything
// else, wildcards first, is refused naming the setting.
func TestCORSOriginsValidate(t *testing.T) {
	cases := []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"http://localhost:3000", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},
		{"https://app.example.com:8443", true},
		{"*", false},
		{"https://*.example.com", false},
		{"https://app.example.com/", false},
		{"https://app.example.com/app", false},
		{"https://app.example.com?x=1", false},
		{"https://app.example.com#x", false},
		{"https://user@app.example.com", false},
		{"app.example.com", false},
		{"ftp://app.example.com", false},
		{"https://", false},
		{"https://app.example.com:0", false},
		{"https://app.example.com:99999", false},
		{"https://app.example.com:", false},
		{"https://app.example.com:443", false},
		{"http://app.example.com:80", false},
		{"null", false},
	}
	for _, c := range cases {
		cfg := gateway.DefaultConfig()
		cfg.CORSOrigins = []string{c.origin}
		err := cfg.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%q: %v, want ok %v", c.origin, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "gateway.cors-origins") {
			t.Errorf("%q: %v does not name the setting", c.origin, err)
		}
	}
}

// The flag takes a comma-separated list.
func TestCORSOriginsFlag(t *testing.T) {
	cfg := gateway.DefaultConfig()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-gateway.cors-origins", " https://a.example, http://localhost:3000 ,"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"https://a.example", "http://localhost:3000"}
	if !slices.Equal(cfg.CORSOrigins, want) || fs.Lookup("gateway.cors-origins").Value.String() != strings.Join(want, ",") {
		t.Errorf("CORSOrigins = %q", cfg.CORSOrigins)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}
