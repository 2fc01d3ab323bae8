package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/web"
)

// serve runs the page's handlers the way the gateway mounts them.
func serve(p *web.Page, method, path, ifNoneMatch string) *http.Response {
	r := httptest.NewRequest(method, path, nil)
	if ifNoneMatch != "" {
		r.Header.Set("If-None-Match", ifNoneMatch)
	}
	w := httptest.NewRecorder()
	if name, ok := strings.CutPrefix(path, "/assets/"); ok {
		p.Asset(w, r, map[string]string{"name": name})
	} else {
		p.Index(w, r, nil)
	}
	return w.Result()
}

// assetNames are the script and style sheet index.html names.
func assetNames(t *testing.T, index string) []string {
	t.Helper()
	m := regexp.MustCompile(`/assets/(app-[A-Z0-9]+\.(?:js|css))`).FindAllStringSubmatch(index, -1)
	if len(m) != 2 {
		t.Fatalf("index.html names %d hashed assets, want 2 (app.js, app.css):\n%s", len(m), index)
	}
	names := []string{m[0][1], m[1][1]}
	if strings.HasSuffix(names[0], ".css") {
		names[0], names[1] = names[1], names[0]
	}
	return names
}

func TestPageServesIndexAndAssets(t *testing.T) {
	p := web.New("https://cdn.example.com/base", web.OIDC{})
	resp := serve(p, http.MethodGet, "/", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	names := assetNames(t, string(body))
	tests := []struct {
		name, method, path string
		status             int
		ctype, cache       string
	}{
		{"index", http.MethodGet, "/", 200, "text/html; charset=utf-8", "no-cache"},
		{"index head", http.MethodHead, "/", 200, "text/html; charset=utf-8", "no-cache"},
		{"script", http.MethodGet, "/assets/" + names[0], 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"style", http.MethodGet, "/assets/" + names[1], 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"icon", http.MethodGet, "/assets/icon.svg", 200, "image/svg+xml", "public, max-age=31536000, immutable"},
		{"unknown asset", http.MethodGet, "/assets/app-NOPE.js", 404, "text/plain; charset=utf-8", "no-store"},
		{"dot dot", http.MethodGet, "/assets/..", 404, "text/plain; charset=utf-8", "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serve(p, tt.method, tt.path, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "img-src 'self' blob: https://cdn.example.com;"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP allows inline code: %q", csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}
}

func TestIndexRevalidates(t *testing.T) {
	p := web.New("", web.OIDC{})
	etag := serve(p, http.MethodGet, "/", "").Header.Get("ETag")
	if etag == "" {
		t.Fatal("index.html has no ETag")
	}
	if got := serve(p, http.MethodGet, "/", etag).StatusCode; got != http.StatusNotModified {
		t.Errorf("GET / with its ETag = %d, want 304", got)
	}
}

// TestBundleHasNoInlineOrForeignCode: the page's own files load nothing
// from elsewhere and index.html has no inline script or style (the CSP
// would block them).
func TestBundleHasNoInlineOrForeignCode(t *testing.T) {
	files := web.Files()
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(string(index), -1) {
		if !strings.Contains(tag, " src=") {
			t.Errorf("index.html has an inline script: %s", tag)
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`), regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		if m := bad.FindString(string(index)); m != "" {
			t.Errorf("index.html has %q", m)
		}
	}
}

// /config.json tells the page its identity provider, and nothing when
// redirect sign-in is off; the CSP lets the page fetch from the issuer's
// origin only then.
func TestConfigAndCSPFollowOIDC(t *testing.T) {
	on := web.OIDC{Issuer: "https://idp.example.com/realms/x/", ClientID: "imagepipe-web", Scopes: "openid profile", Audience: "imagepipe"}
	tests := []struct {
		name        string
		oidc        web.OIDC
		config      string
		connectSrc  string
		mustNotHave string
	}{
		{"off", web.OIDC{Scopes: "openid"}, `{"oidc":null}`, "connect-src 'self';", "idp.example.com"},
		{"off with an issuer", web.OIDC{Issuer: "https://idp.example.com", Scopes: "openid"}, `{"oidc":null}`, "connect-src 'self';", "idp.example.com"},
		{"on", on, `{"oidc":{"issuer":"https://idp.example.com/realms/x","client_id":"imagepipe-web","scopes":"openid profile","audience":"imagepipe"}}`,
			"connect-src 'self' https://idp.example.com;", "/realms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := web.New("", tt.oidc)
			r := httptest.NewRequest(http.MethodGet, "/config.json", nil)
			w := httptest.NewRecorder()
			p.Config(w, r, nil)
			resp := w.Result()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != tt.config {
				t.Errorf("GET /config.json = %d %s, want 200 %s", resp.StatusCode, body, tt.config)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache (the settings may change)", got)
			}
			csp := serve(p, http.MethodGet, "/", "").Header.Get("Content-Security-Policy")
			if csp != resp.Header.Get("Content-Security-Policy") {
				t.Errorf("/config.json's CSP differs from the page's")
			}
			if !strings.Contains(csp, tt.connectSrc) || strings.Contains(csp, tt.mustNotHave) {
				t.Errorf("CSP %q: want %q, without %q", csp, tt.connectSrc, tt.mustNotHave)
			}
			if !strings.Contains(csp, "form-action 'none'") {
				t.Errorf("CSP %q lost form-action 'none'", csp)
			}
		})
	}
}
