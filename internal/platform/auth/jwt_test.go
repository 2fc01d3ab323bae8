package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"google.golang.org/grpc/codes"
)

// testKeys are the identity provider's signing keys (private JWKs, by kid),
// made once: RSA keys take a while.
var testKeys = sync.OnceValue(func() map[string]jwk.Key {
	keys := map[string]jwk.Key{}
	add := func(name, kid string, raw any) {
		k, err := jwk.Import(raw)
		if err != nil {
			panic(err)
		}
		if err := k.Set(jwk.KeyIDKey, kid); err != nil {
			panic(err)
		}
		keys[name] = k
	}
	rsaKey := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	}
	ecKey := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	add("rsa1", "rsa1", rsaKey())
	add("rsa2", "rsa2", rsaKey())
	add("rsa3", "rsa3", rsaKey())
	add("impostor", "rsa1", rsaKey()) // another key claiming kid rsa1
	add("ec1", "ec1", ecKey(elliptic.P256()))
	add("ec384", "ec384", ecKey(elliptic.P384()))
	return keys
})

// jwksJSON is the public JWKS of the named test keys.
func jwksJSON(t *testing.T, names ...string) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, n := range names {
		pub, err := testKeys()[n].PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJWKS(t *testing.T, path string, names ...string) {
	t.Helper()
	if err := os.WriteFile(path, jwksJSON(t, names...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// jwksServer serves a JWKS that a test may change, counting fetches.
type jwksServer struct {
	*httptest.Server
	body atomic.Pointer[[]byte]
	hits atomic.Int64
}

func newJWKSServer(t *testing.T, names ...string) *jwksServer {
	s := &jwksServer{}
	s.serve(t, names...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(t *testing.T, names ...string) {
	b := jwksJSON(t, names...)
	s.body.Store(&b)
}

// quiet waits until no fetch has come for a while, so later counts see
// only what the test causes (construction may leave a background fetch).
func (s *jwksServer) quiet(t *testing.T) int64 {
	t.Helper()
	n := s.hits.Load()
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		m := s.hits.Load()
		if m == n {
			return n
		}
		n = m
	}
	t.Fatal("the JWKS server is never quiet")
	return 0
}

const (
	testIssuer   = "https://idp.test/"
	testAudience = "imagepipe"
)

// claims are a valid token's claims, changed by edit.
func claims(edit func(c map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":    testIssuer,
		"aud":    []string{testAudience},
		"sub":    "user-42",
		"tenant": "acme",
		"scope":  "upload read",
		"iat":    now,
		"exp":    now.Add(time.Hour),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func signWith(t *testing.T, c map[string]any, alg jwa.SignatureAlgorithm, key any, subopts ...jwt.Option) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range c {
		if err := tok.Set(k, v); err != nil {
			t.Fatalf("claim %s: %v", k, err)
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(alg, key, subopts...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sign(t *testing.T, c map[string]any, alg jwa.SignatureAlgorithm, name string) string {
	return signWith(t, c, alg, testKeys()[name])
}

// unsigned is a token with alg none (and, if sig is set, a junk signature).
func unsigned(t *testing.T, c map[string]any, sig string) string {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"iss": c["iss"], "aud": c["aud"], "sub": c["sub"], "tenant": c["tenant"],
		"scope": c["scope"], "exp": c["exp"].(time.Time).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","kid":"rsa1","typ":"JWT"}`)) + "." + enc(payload) + "." + sig
}

// withKid adds a kid to the protected header of a token signed with a raw key.
func withKid(t *testing.T, kid string) jwt.Option {
	t.Helper()
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	return jws.WithProtectedHeaders(h)
}

// testLog writes to the test's output (shown with -v or on failure), down
// to debug: every refusal's reason.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newJWT(t *testing.T, cfg auth.JWTConfig) *auth.JWT {
	t.Helper()
	j, err := auth.NewJWT(t.Context(), cfg, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestJWT(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, file, "rsa1", "ec1", "ec384")
	srv := newJWKSServer(t, "rsa1", "ec1", "ec384")
	rsaPub, err := testKeys()["rsa1"].PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	var rawPub rsa.PublicKey
	if err := jwk.Export(rsaPub, &rawPub); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&rawPub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pubJWK, err := json.Marshal(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	valid := auth.Principal{Tenant: "acme", Scopes: []auth.Scope{auth.ScopeUpload, auth.ScopeRead}, Subject: "user-42"}

	for _, tc := range []struct {
		name  string
		token func(t *testing.T) string
		want  *auth.Principal // nil: refused
	}{
		{"valid RS256", func(t *testing.T) string { return sign(t, claims(nil), jwa.RS256(), "rsa1") }, &valid},
		{"valid ES256", func(t *testing.T) string { return sign(t, claims(nil), jwa.ES256(), "ec1") }, &valid},
		{"one of several audiences", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["aud"] = []string{"other", testAudience} }), jwa.RS256(), "rsa1")
		}, &valid},
		{"scopes as an array", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["scope"] = []string{"read", "admin", "openid"} }), jwa.ES256(), "ec1")
		}, &auth.Principal{Tenant: "acme", Scopes: []auth.Scope{auth.ScopeRead, auth.ScopeAdmin}, Subject: "user-42"}},
		{"unknown scopes ignored", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["scope"] = "openid  read email read" }), jwa.RS256(), "rsa1")
		}, &auth.Principal{Tenant: "acme", Scopes: []auth.Scope{auth.ScopeRead}, Subject: "user-42"}},
		{"no scopes", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { delete(c, "scope") }), jwa.RS256(), "rsa1")
		}, &auth.Principal{Tenant: "acme", Subject: "user-42"}},
		{"expired within leeway", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second) }), jwa.RS256(), "rsa1")
		}, &valid},

		{"wrong audience", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["aud"] = []string{"other"} }), jwa.RS256(), "rsa1")
		}, nil},
		{"no audience", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { delete(c, "aud") }), jwa.RS256(), "rsa1")
		}, nil},
		{"wrong issuer", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["iss"] = "https://evil.test/" }), jwa.RS256(), "rsa1")
		}, nil},
		{"expired", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour) }), jwa.RS256(), "rsa1")
		}, nil},
		{"no expiry", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { delete(c, "exp") }), jwa.RS256(), "rsa1")
		}, nil},
		{"not yet valid", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour) }), jwa.ES256(), "ec1")
		}, nil},
		{"signed by another key with the same kid", func(t *testing.T) string {
			return sign(t, claims(nil), jwa.RS256(), "impostor")
		}, nil},
		{"signed by a key not in the set", func(t *testing.T) string {
			return sign(t, claims(nil), jwa.RS256(), "rsa2")
		}, nil},
		{"HS256 with the public key's PEM as secret", func(t *testing.T) string {
			return signWith(t, claims(nil), jwa.HS256(), pubPEM, withKid(t, "rsa1"))
		}, nil},
		{"HS256 with the public JWK as secret", func(t *testing.T) string {
			return signWith(t, claims(nil), jwa.HS256(), pubJWK, withKid(t, "rsa1"))
		}, nil},
		{"alg none", func(t *testing.T) string { return unsigned(t, claims(nil), "") }, nil},
		{"alg none with a signature", func(t *testing.T) string { return unsigned(t, claims(nil), "c2ln") }, nil},
		{"RS256 header on an EC key", func(t *testing.T) string {
			tok := sign(t, claims(nil), jwa.ES256(), "ec1")
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"ec1"}`))
			return hdr + tok[strings.Index(tok, "."):]
		}, nil},
		{"ES384 (not accepted)", func(t *testing.T) string { return sign(t, claims(nil), jwa.ES384(), "ec384") }, nil},
		{"RS512 (not accepted)", func(t *testing.T) string { return sign(t, claims(nil), jwa.RS512(), "rsa1") }, nil},
		{"tampered payload", func(t *testing.T) string {
			tok := sign(t, claims(nil), jwa.RS256(), "rsa1")
			parts := strings.Split(tok, ".")
			other := strings.Split(sign(t, claims(func(c map[string]any) { c["tenant"] = "default" }), jwa.RS256(), "rsa1"), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}, nil},
		{"no tenant", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { delete(c, "tenant") }), jwa.RS256(), "rsa1")
		}, nil},
		{"bad tenant", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["tenant"] = "Acme Corp" }), jwa.RS256(), "rsa1")
		}, nil},
		{"tenant not a string", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["tenant"] = 42 }), jwa.RS256(), "rsa1")
		}, nil},
		{"not a JWT", func(t *testing.T) string { return "a.b.c" }, nil},
		{"too long", func(t *testing.T) string {
			return sign(t, claims(func(c map[string]any) { c["pad"] = strings.Repeat("x", 20<<10) }), jwa.RS256(), "rsa1")
		}, nil},
	} {
		for _, src := range []struct{ name, jwks string }{{"file", file}, {"url", srv.URL}} {
			t.Run(tc.name+"/"+src.name, func(t *testing.T) {
				j := newJWT(t, auth.JWTConfig{JWKS: src.jwks, Issuer: testIssuer, Audience: testAudience, Leeway: 30 * time.Second})
				p, err := j.Authenticate(t.Context(), tc.token(t))
				if tc.want == nil {
					// One message for every refusal: nothing internal leaks.
					wantCode(t, err, codes.Unauthenticated, "invalid token")
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.Tenant != tc.want.Tenant || p.Subject != tc.want.Subject || p.KeyID != "" || !slices.Equal(p.Scopes, tc.want.Scopes) {
					t.Errorf("principal %+v, want %+v", p, *tc.want)
				}
			})
		}
	}
}

// The claim names of tenant and scopes can be changed. (Issuer and
// audience are required: Validate refuses a config without them.)
func TestJWTConfigurable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, file, "ec1")
	j := newJWT(t, auth.JWTConfig{JWKS: file, Issuer: testIssuer, Audience: testAudience, TenantClaim: "org", ScopesClaim: "scp"})
	tok := sign(t, claims(func(c map[string]any) {
		c["org"], c["scp"] = "beta", []string{"upload"}
	}), jwa.ES256(), "ec1")
	p, err := j.Authenticate(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "beta" || !slices.Equal(p.Scopes, []auth.Scope{auth.ScopeUpload}) {
		t.Errorf("principal %+v", p)
	}
}

// A token signed by a key the provider just added verifies: an unknown kid
// makes the authenticator fetch the JWKS again, at most once per
// UnknownKeyRefresh, and a key the provider dropped stops verifying.
func TestJWTKeyRotationURL(t *testing.T) {
	srv := newJWKSServer(t, "rsa1")
	const every = 2 * time.Second
	j := newJWT(t, auth.JWTConfig{JWKS: srv.URL, Issuer: testIssuer, Audience: testAudience, UnknownKeyRefresh: every})
	auth1 := func(name string) error {
		_, err := j.Authenticate(t.Context(), sign(t, claims(nil), jwa.RS256(), name))
		return err
	}
	if err := auth1("rsa1"); err != nil {
		t.Fatal(err)
	}
	hits := srv.quiet(t)

	// Rotate: rsa2 replaces rsa1.
	srv.serve(t, "rsa2")
	refreshed := time.Now()
	if err := auth1("rsa2"); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	if got := srv.hits.Load(); got != hits+1 {
		t.Fatalf("%d fetches for the unknown kid, want 1", got-hits)
	}
	wantCode(t, auth1("rsa1"), codes.Unauthenticated, "invalid token") // dropped from the set

	// Another new key within UnknownKeyRefresh: no fetch, refused.
	srv.serve(t, "rsa2", "rsa3")
	wantCode(t, auth1("rsa3"), codes.Unauthenticated, "invalid token")
	if time.Since(refreshed) >= every {
		t.Skip("too slow to test the rate limit")
	}
	if got := srv.hits.Load(); got != hits+1 {
		t.Fatalf("%d fetches; want none within UnknownKeyRefresh", got-hits-1)
	}
	time.Sleep(time.Until(refreshed.Add(every + 100*time.Millisecond))) // the refresh began a little after refreshed
	if err := auth1("rsa3"); err != nil {
		t.Fatalf("new key after UnknownKeyRefresh: %v", err)
	}
}

// Concurrent tokens with one new kid cause one fetch and all verify.
func TestJWTUnknownKidConcurrent(t *testing.T) {
	srv := newJWKSServer(t, "ec1")
	j := newJWT(t, auth.JWTConfig{JWKS: srv.URL, Issuer: testIssuer, Audience: testAudience})
	hits := srv.quiet(t)
	srv.serve(t, "ec1", "rsa2")
	tok := sign(t, claims(nil), jwa.RS256(), "rsa2")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := j.Authenticate(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := srv.hits.Load() - hits; got != 1 {
		t.Errorf("%d fetches, want 1", got)
	}
}

// A JWKS file is re-read when a token names a key it does not hold.
func TestJWTKeyRotationFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, file, "rsa1")
	j := newJWT(t, auth.JWTConfig{JWKS: file, Issuer: testIssuer, Audience: testAudience})
	writeJWKS(t, file, "rsa1", "ec1")
	if _, err := j.Authenticate(t.Context(), sign(t, claims(nil), jwa.ES256(), "ec1")); err != nil {
		t.Fatal(err)
	}
}

func TestNewJWTFails(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte("{not json"), 0o600)
	symmetric := filepath.Join(dir, "oct.json")
	os.WriteFile(symmetric, []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`), 0o600)
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, tc := range []struct{ name, jwks, want string }{
		{"missing file", filepath.Join(dir, "nope.json"), "nope.json"},
		{"not JSON", garbage, "garbage.json"},
		{"no signing key", symmetric, "no RSA or P-256 EC signing key"},
		{"404", notFound.URL, notFound.URL},
		{"connection refused", gone.URL, gone.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			j, err := auth.NewJWT(t.Context(), auth.JWTConfig{JWKS: tc.jwks, Issuer: testIssuer, Audience: testAudience}, nil, nil)
			if err == nil {
				j.Close()
				t.Fatal("NewJWT succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s to fail", d)
			}
		})
	}
}

func TestJWTConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  auth.JWTConfig
		want []string // in the error; none: valid
	}{
		{"file", auth.JWTConfig{JWKS: "/etc/imagepipe/jwks.json", Issuer: "x", Audience: "y"}, nil},
		{"no issuer", auth.JWTConfig{JWKS: "k.json", Audience: "y"}, []string{"issuer", "required"}},
		{"no audience", auth.JWTConfig{JWKS: "k.json", Issuer: "x"}, []string{"audience", "required"}},
		{"https", auth.JWTConfig{JWKS: "https://idp.example/.well-known/jwks.json", Issuer: "x", Audience: "y", Leeway: time.Minute}, nil},
		{"empty", auth.JWTConfig{}, []string{"JWKS", "required"}},
		{"scheme", auth.JWTConfig{JWKS: "ftp://idp.example/jwks"}, []string{"JWKS", "ftp://"}},
		{"no host", auth.JWTConfig{JWKS: "https:///jwks"}, []string{"JWKS", "no host"}},
		{"everything", auth.JWTConfig{Leeway: -time.Second, TenantClaim: " t", MinRefresh: time.Millisecond, UnknownKeyRefresh: -1},
			[]string{"JWKS", "leeway", "tenant claim", "refresh", "unknown key refresh"}},
		{"leeway", auth.JWTConfig{JWKS: "k.json", Leeway: time.Hour}, []string{"leeway"}},
		{"refresh order", auth.JWTConfig{JWKS: "k.json", MinRefresh: time.Hour, MaxRefresh: time.Minute}, []string{"refresh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("valid")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
