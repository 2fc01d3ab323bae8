package browser_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// The identity provider's side of the test.
const (
	oidcClient   = "imagepipe-web"
	oidcAudience = "imagepipe"
	oidcTenant   = "oidc-people"
)

// provider is a small OpenID Connect provider: discovery, JWKS, an
// authorization endpoint that approves at once and a token endpoint that checks the client id, the redirect URI
// and the PKCE verifier, and issues RS256 JWTs: an access token for
// oidcAudience with the tenant and scope claims, and an ID token for the
// client with the nonce. fault makes it misbehave: "deny" refuses the
// sign-in, "exchange" every code, "nonce" puts another nonce in the ID
// token.
type provider struct {
	t     *testing.T
	srv   *httptest.Server
	key   jwk.Key // private
	fault atomic.Value

	mu    sync.Mutex
	codes map[string]grant // code → what it was issued for; single use
}

type grant struct {
	challenge, redirect, nonce string
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Set(jwk.KeyIDKey, "test-1"); err != nil {
		t.Fatal(err)
	}
	p := &provider{t: t, key: key, codes: map[string]grant{}}
	p.fault.Store("")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) issuer() string { return p.srv.URL }

// cors lets the page, on another origin, read the answer.
func cors(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	cors(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer":                                p.issuer(),
		"authorization_endpoint":                p.issuer() + "/authorize",
		"token_endpoint":                        p.issuer() + "/token",
		"jwks_uri":                              p.issuer() + "/jwks",
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (p *provider) jwks(w http.ResponseWriter, _ *http.Request) {
	pub, err := p.key.PublicKey()
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	set := jwk.NewSet()
	_ = pub.Set(jwk.AlgorithmKey, jwa.RS256())
	_ = set.AddKey(pub)
	writeJSON(w, 200, set)
}

// authorize approves every well-formed request and sends the browser
// back with a code (or, with fault "deny", with error=access_denied).
func (p *provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case err != nil || redirect.Scheme != "http":
		http.Error(w, "bad redirect_uri", 400)
		return
	case q.Get("client_id") != oidcClient || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("state") == "" || q.Get("nonce") == "" || !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, 400)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if p.fault.Load() == "deny" {
		back.Set("error", "access_denied")
		back.Set("error_description", "the person said no")
	} else {
		code := rand.Text()
		p.mu.Lock()
		p.codes[code] = grant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), nonce: q.Get("nonce")}
		p.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token exchanges a code: the client, the redirect URI and the PKCE
// verifier must be those of the authorization request.
func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	p.mu.Lock()
	g, ok := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case f.Get("grant_type") != "authorization_code":
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	case f.Get("client_id") != oidcClient:
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
	case !ok || f.Get("redirect_uri") != g.redirect:
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "unknown code"})
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
	case p.fault.Load() == "exchange":
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "the code has expired"})
	default:
		if p.fault.Load() == "nonce" {
			g.nonce = "someone-else's"
		}
		writeJSON(w, 200, map[string]any{
			"token_type":   "Bearer",
			"expires_in":   300,
			"access_token": p.sign(oidcAudience, time.Now().Add(5*time.Minute), ""),
			"id_token":     p.sign(oidcClient, time.Now().Add(5*time.Minute), g.nonce),
		})
	}
}

// sign issues an RS256 JWT for aud, expiring at exp; an ID token when
// nonce is set.
func (p *provider) sign(aud string, exp time.Time, nonce string) string {
	b := jwt.NewBuilder().Issuer(p.issuer()).Audience([]string{aud}).Subject("ada").
		IssuedAt(time.Now().Add(-time.Minute)).Expiration(exp)
	if nonce != "" {
		b = b.Claim("nonce", nonce)
	} else {
		b = b.Claim("tenant", oidcTenant).Claim("scope", "upload read")
	}
	tok, err := b.Build()
	if err != nil {
		p.t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), p.key))
	if err != nil {
		p.t.Fatal(err)
	}
	return string(signed)
}

// TestProviderChecksPKCE: the provider the browser test signs in with
// refuses a code presented with the wrong verifier (or by another
// client), so the page's sign-in passing means it sent the right one.
func TestProviderChecksPKCE(t *testing.T) {
	p := newProvider(t)
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	codeFor := func() string {
		q := url.Values{"client_id": {oidcClient}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:1/"},
			"scope": {"openid"}, "state": {"s"}, "nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		resp, err := noRedirect.Get(p.issuer() + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "s" {
			t.Fatalf("authorize: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		return loc.Query().Get("code")
	}
	tests := []struct {
		name, client, verifier string
		status                 int
		errCode                string
	}{
		{"wrong verifier", oidcClient, strings.Repeat("x", 43), 400, "invalid_grant"},
		{"no verifier", oidcClient, "", 400, "invalid_grant"},
		{"another client", "someone-else", verifier, 401, "invalid_client"},
		{"right verifier", oidcClient, verifier, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {codeFor()}, "redirect_uri": {"http://127.0.0.1:1/"},
				"client_id": {tt.client}, "code_verifier": {tt.verifier}}
			resp, err := http.PostForm(p.issuer()+"/token", form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct{ Error, AccessToken string }
			var raw map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&raw)
			out.Error, _ = raw["error"].(string)
			out.AccessToken, _ = raw["access_token"].(string)
			if resp.StatusCode != tt.status || out.Error != tt.errCode || (tt.status == 200) != (out.AccessToken != "") {
				t.Errorf("token = %d %v, want %d %q", resp.StatusCode, raw, tt.status, tt.errCode)
			}
		})
	}
}

// TestOIDCSignIn signs in through the provider in the browser: the page
// sends the browser to the provider and back, exchanges the code, and is
// then signed in as the token's tenant; a forged answer (wrong state), a
// refusal by the provider and an expired token each end on the sign-in
// view with a message saying so.
func TestOIDCSignIn(t *testing.T) {
	chromium(t)
	idp := newProvider(t)
	addr := freeAddr(t)
	cfg := serverConfig(t.TempDir(), addr, "http://"+addr)
	cfg.JWT.JWKS = idp.issuer() + "/jwks"
	cfg.JWT.Issuer = idp.issuer()
	cfg.JWT.Audience = oidcAudience
	cfg.Gateway.OIDC.ClientID = oidcClient // the issuer is jwt.issuer's
	s := apptest.Start(t, cfg)
	b := newBrowser(t, 1100, 850)
	b.allow("status of 403") // the page asks whether the token may administer: it may not

	t.Run("signs in and uploads as the token's tenant", func(t *testing.T) { oidcUpload(t, b, s, idp) })
	t.Run("a wrong state is refused", func(t *testing.T) {
		b.run(chromedp.Navigate(s.Base + "/?code=stolen&state=forged"))
		signInError(t, b, "state")
		if got := eval[string](b, `location.search`); got != "" {
			t.Errorf("address bar keeps %q", got)
		}
	})
	for _, tt := range []struct{ name, fault, want string }{
		{"the provider's refusal is shown", "deny", "refused the sign-in: the person said no"},
		{"a failed exchange is shown", "exchange", "did not exchange the sign-in code: the code has expired"},
		{"an ID token of another sign-in is refused", "nonce", "nonce"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			idp.fault.Store(tt.fault)
			defer idp.fault.Store("")
			if tt.fault == "exchange" {
				b.allow("status of 400")
			}
			clickSignIn(b, s.Base, idp)
			signInError(t, b, tt.want)
			if got := eval[string](b, `sessionStorage.getItem("imagepipe.key") || ""`); got != "" {
				t.Error("a token is kept after a failed sign-in")
			}
		})
	}
	t.Run("an expired token returns to the sign-in view", func(t *testing.T) {
		clickSignIn(b, s.Base, idp)
		waitAcross(b, "the upload view", `!!document.getElementById("drop")`, 20*time.Second)
		b.allow("status of 401")
		expired := idp.sign(oidcAudience, time.Now().Add(-time.Minute), "")
		eval[bool](b, `sessionStorage.setItem("imagepipe.key", `+js(expired)+`); location.hash = "#/gallery"; true`)
		signInError(t, b, "expired")
		if got := eval[string](b, `sessionStorage.getItem("imagepipe.key") || ""`); got != "" {
			t.Error("the refused token is still kept")
		}
	})

	if p := b.Problems(); len(p) > 0 {
		t.Errorf("browser console: %d problems:\n%s", len(p), strings.Join(p, "\n"))
	}
	for _, u := range b.Requests() {
		if !strings.HasPrefix(u, s.Base+"/") && !strings.HasPrefix(u, idp.issuer()+"/") && !strings.HasPrefix(u, "blob:") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s, neither the server nor the identity provider", u)
		}
	}
}

// clickSignIn opens the page at base, signed out, and clicks "Sign in
// with <host>".
func clickSignIn(b *Browser, base string, idp *provider) {
	b.t.Helper()
	b.run(chromedp.Navigate(base + "/"))
	eval[bool](b, `sessionStorage.removeItem("imagepipe.key"); true`)
	b.run(chromedp.Reload())
	waitAcross(b, "the provider's button", `!!document.getElementById("signin-oidc")`, 20*time.Second)
	host := strings.TrimPrefix(idp.issuer(), "http://")
	if got := eval[string](b, `document.getElementById("signin-oidc").textContent`); got != "Sign in with "+host {
		b.t.Errorf("button %q, want Sign in with %s", got, host)
	}
	b.run(chromedp.Click(chromedp.ID("signin-oidc")))
}

// waitAcross polls a JavaScript predicate like waitFor, across the
// navigations of a sign-in (to the provider and back), when an evaluation
// may fail because its page is gone.
func waitAcross(b *Browser, what, predicate string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](predicate))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("waiting for %s: not within %s\npage: %s\nproblems: %v", what, timeout, b.pageText(), b.Problems())
}

func signInError(t *testing.T, b *Browser, want string) {
	t.Helper()
	waitAcross(b, "the sign-in error", `!!document.getElementById("signin-error") && document.getElementById("signin-error").textContent !== ""`, 20*time.Second)
	if got := eval[string](b, `document.getElementById("signin-error").textContent`); !strings.Contains(got, want) {
		t.Errorf("sign-in error %q, want it to say %q", got, want)
	}
	if !eval[bool](b, `document.getElementById("nav").hidden`) {
		t.Error("the navigation shows while signed out")
	}
}

func oidcUpload(t *testing.T, b *Browser, s *apptest.Server, idp *provider) {
	clickSignIn(b, s.Base, idp)
	waitAcross(b, "the upload view, signed in", `!!document.getElementById("drop") && !document.getElementById("nav").hidden`, 20*time.Second)
	if got := eval[string](b, `location.search + location.hash`); got != "#/upload" {
		t.Errorf("address bar keeps %q, want the code and state gone", got)
	}
	token := eval[string](b, `sessionStorage.getItem("imagepipe.key") || ""`)
	claims := map[string]any{}
	if parts := strings.Split(token, "."); len(parts) == 3 {
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(raw, &claims)
	}
	if claims["aud"] == nil || claims["tenant"] != oidcTenant {
		t.Fatalf("kept token's claims %v, want the access token (tenant %s)", claims, oidcTenant)
	}
	if got := eval[string](b, `sessionStorage.getItem("imagepipe.oidc") || ""`); got != "" {
		t.Errorf("the verifier and state outlive the sign-in: %s", got)
	}

	drop(b, imagetest.FixturePath(t, "dandelion.jpg"))
	b.waitFor("a rendered thumbnail", `(() => { const ts = `+newestBatch+`; return ts.length === 1 && ts[0].dataset.state === "ready" &&
		ts[0].querySelector("img.thumb") && ts[0].querySelector("img.thumb").naturalWidth > 0 })()`, 90*time.Second)
	id := tiles(b)[0].ImageID

	// The image is the token's tenant's: a key of that tenant finds it,
	// a key of another tenant does not.
	for _, tt := range []struct {
		tenant string
		status int
	}{{oidcTenant, 200}, {"other", 404}} {
		var key struct{ Secret string }
		body := `{"tenant":"` + tt.tenant + `","scopes":["read"],"name":"oidc test"}`
		if code := call(t, http.MethodPost, s.Base+"/v1/admin/keys", s.Token, "application/json", strings.NewReader(body), &key); code != 200 {
			t.Fatalf("create a key of %s: %d", tt.tenant, code)
		}
		var img image
		code := call(t, http.MethodGet, s.Base+"/v1/images/"+id, key.Secret, "", nil, &img)
		if code != tt.status || (code == 200 && img.State != "IMAGE_STATE_READY") {
			t.Errorf("a key of %s: GET image = %d %+v, want %d (READY)", tt.tenant, code, img, tt.status)
		}
	}
}
