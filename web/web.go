// Package web serves imagepipe's web page: index.html at / and the
// bundled script and style sheet at /assets/{name}, embedded from dist/
// (built from src/ by `make web` and committed, like gen/). Every answer
// carries a strict Content-Security-Policy: the page loads nothing but
// its own files and talks only to its own origin (and shows images from
// the variants' public URL, and, with OpenID Connect sign-in configured,
// fetches the identity provider's discovery document and token endpoint).
// GET /config.json tells the page what it cannot know on its own: the
// identity provider it signs in with.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// OIDC configures the page's redirect sign-in through an OpenID Connect
// provider: the authorization code flow with PKCE (S256), the page a
// public client (no secret). Off when ClientID is empty.
type OIDC struct {
	// Issuer is the provider's issuer URL; its discovery document is
	// Issuer + "/.well-known/openid-configuration".
	Issuer string `json:"issuer"`
	// ClientID is the page's client id at the provider.
	ClientID string `json:"client_id"`
	// Scopes are the space-separated scopes asked for ("openid" at least).
	Scopes string `json:"scopes"`
	// Audience, when set, is sent as the audience parameter of the
	// authorization request, for providers that mint an access token for
	// an API only when asked for it by name (the server's jwt.audience).
	Audience string `json:"audience,omitempty"`
}

// On reports whether redirect sign-in is configured.
func (o OIDC) On() bool { return o.ClientID != "" }

// Page serves the embedded page.
type Page struct {
	csp       string
	index     []byte
	indexETag string
	config    []byte
	assets    fs.FS
}

// New returns the page. publicURL is the base of variant URLs (a CDN in
// production): its origin is added to the images the page may show. An
// empty or unparsable publicURL adds nothing. oidc is the redirect
// sign-in, if any.
func New(publicURL string, oidc OIDC) *Page {
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		panic("web: dist/index.html is not embedded: run make web") // a build without the bundle
	}
	assets, err := fs.Sub(dist, "dist/assets")
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(index)
	return &Page{csp: CSP(publicURL, oidc), index: index, indexETag: `"` + hex.EncodeToString(sum[:16]) + `"`,
		config: pageConfig(oidc), assets: assets}
}

// pageConfig is the body of /config.json: {"oidc": null} when redirect
// sign-in is off. It holds nothing secret: a public client has no secret.
func pageConfig(oidc OIDC) []byte {
	var doc struct {
		OIDC *OIDC `json:"oidc"`
	}
	if oidc.On() {
		oidc.Issuer = strings.TrimRight(oidc.Issuer, "/")
		doc.OIDC = &oidc
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // strings only
	}
	return b
}

// CSP is the Content-Security-Policy of the page: its own origin only,
// no inline script or style, no framing, images also from publicURL's
// origin, and fetches also to the OIDC issuer's origin when redirect
// sign-in is on (its discovery document and token endpoint).
func CSP(publicURL string, oidc OIDC) string {
	img := "'self' blob:"
	if o := origin(publicURL); o != "" {
		img += " " + o
	}
	connect := "'self'"
	if o := origin(oidc.Issuer); oidc.On() && o != "" {
		connect += " " + o
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src " + img,
		"connect-src " + connect,
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// origin is scheme://host[:port] of an http(s) URL, "" otherwise.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// headers sets the security headers every answer of the page carries.
func (p *Page) headers(h http.Header) {
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Index serves index.html (GET and HEAD /). It names the hashed assets,
// so it is revalidated every time (no-cache, with an ETag).
func (p *Page) Index(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	p.headers(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", p.indexETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.index))
}

// Config serves /config.json (GET and HEAD), to anyone: the settings
// the page needs before it is signed in.
func (p *Page) Config(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	p.headers(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.config))
}

// Asset serves /assets/{name}. Asset names carry a hash of their content,
// so they are cached for a year and never revalidated.
func (p *Page) Asset(w http.ResponseWriter, r *http.Request, params map[string]string) {
	name := params["name"]
	p.headers(w.Header())
	ctype := mime.TypeByExtension(path.Ext(name))
	b, err := fs.ReadFile(p.assets, name)
	if err != nil || !fs.ValidPath(name) || strings.Contains(name, "/") || ctype == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "no such asset", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// Files are the embedded files: index.html and assets/.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err)
	}
	return sub
}
