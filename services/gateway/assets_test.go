package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/services/gateway"
)

// putVariant stores a variant of id, public or private, and returns its
// body.
func (e *env) putVariant(t *testing.T, id, name string, private bool) string {
	t.Helper()
	body := "variant " + name + " of " + id
	if _, err := e.variants.Put(context.Background(), jobs.VariantKey(id, name, private), strings.NewReader(body), blob.PutOptions{ContentType: "image/webp"}); err != nil {
		t.Fatal(err)
	}
	return body
}

// A public variant is served to anyone and cached forever; a private one
// only through a genuine, current signed link, and then only by the
// browser, until the link expires.
func TestPrivateVariants(t *testing.T) {
	e := newEnv(t, envOptions{})
	pub, priv, gone := jobs.NewID(), jobs.NewID(), jobs.NewID()
	pubBody := e.putVariant(t, pub, "thumb", false)
	privBody := e.putVariant(t, priv, "thumb", true)
	now := time.Now()
	// link signs /a/{id}/thumb until exp, as the status service does.
	link := func(id string, exp time.Time) string {
		return jobs.VariantPath(id, "thumb") + "?" + e.signer.Sign(jobs.VariantPath(id, "thumb"), exp).Encode()
	}
	tamper := func(raw string, f func(q url.Values)) string {
		u, _ := url.Parse(raw)
		q := u.Query()
		f(q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	soon, later := now.Add(10*time.Minute), now.Add(48*time.Hour)
	const forever = "public, max-age=31536000, immutable"
	cases := []struct {
		name, path string
		code       int
		body       string
		// cache is the Cache-Control; "private" checks a private max-age
		// of at most maxAge seconds.
		cache  string
		maxAge int
	}{
		{"public", jobs.VariantPath(pub, "thumb"), 200, pubBody, forever, 0},
		{"private without a link", jobs.VariantPath(priv, "thumb"), 403, "", "", 0},
		{"private, signed", link(priv, soon), 200, privBody, "private", 600},
		{"private, signed for long", link(priv, later), 200, privBody, "private", 3600},
		{"public, signed", link(pub, soon), 200, pubBody, "private", 600},
		{"expired", link(priv, now.Add(-time.Second)), 403, "", "", 0},
		{"exp moved on", tamper(link(priv, soon), func(q url.Values) { q.Set("exp", strconv.FormatInt(later.Unix(), 10)) }), 403, "", "", 0},
		{"sig altered", tamper(link(priv, soon), func(q url.Values) {
			s := []byte(q.Get("sig"))
			s[0] ^= 1
			q.Set("sig", string(s))
		}), 403, "", "", 0},
		{"another image's link", jobs.VariantPath(priv, "thumb") + "?" + e.signer.Sign(jobs.VariantPath(pub, "thumb"), soon).Encode(), 403, "", "", 0},
		{"another variant's link", jobs.VariantPath(priv, "thumb") + "?" + e.signer.Sign(jobs.VariantPath(priv, "large"), soon).Encode(), 403, "", "", 0},
		{"exp without sig", jobs.VariantPath(priv, "thumb") + "?exp=" + strconv.FormatInt(soon.Unix(), 10), 403, "", "", 0},
		{"sig without exp", tamper(link(priv, soon), func(q url.Values) { q.Del("exp") }), 403, "", "", 0},
		{"deleted, signed", link(gone, soon), 404, "", "", 0},
		{"deleted", jobs.VariantPath(gone, "thumb"), 404, "", "", 0},
		{"not an id", "/a/nope/thumb", 404, "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.do(t, context.Background(), "GET", c.path, http.Header{"Authorization": {""}}, nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, c.code)
			}
			if c.code != 200 {
				var eb gateway.ErrorBody
				if json.Unmarshal(body, &eb) != nil || eb.Error.Code != c.code {
					t.Errorf("error body %s", body)
				}
				return
			}
			if string(body) != c.body {
				t.Errorf("body %q, want %q", body, c.body)
			}
			checkCache(t, resp.Header.Get("Cache-Control"), c.cache, c.maxAge)
		})
	}
}

// checkCache checks a Cache-Control: want itself, or for "private" a
// private max-age between maxAge-5 and maxAge.
func checkCache(t *testing.T, got, want string, maxAge int) {
	t.Helper()
	if want != "private" {
		if got != want {
			t.Errorf("Cache-Control %q, want %q", got, want)
		}
		return
	}
	s, ok := strings.CutPrefix(got, "private, max-age=")
	n, err := strconv.Atoi(s)
	if !ok || err != nil || n > maxAge || n < maxAge-5 {
		t.Errorf("Cache-Control %q, want private, max-age=%d", got, maxAge)
	}
}

// ETag, 304 and HEAD work as for public variants.
func TestPrivateVariantConditional(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := jobs.NewID()
	body := e.putVariant(t, id, "thumb", true)
	p := jobs.VariantPath(id, "thumb")
	path := p + "?" + e.signer.Sign(p, time.Now().Add(time.Minute)).Encode()

	resp := e.do(t, context.Background(), "HEAD", path, nil, nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	checkCache(t, resp.Header.Get("Cache-Control"), "private", 60)

	resp = e.do(t, context.Background(), "GET", path, http.Header{"If-None-Match": {etag}}, nil)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	checkCache(t, resp.Header.Get("Cache-Control"), "private", 60)

	// No 304 for an unsigned request, whatever it matches.
	resp = e.do(t, context.Background(), "GET", p, http.Header{"If-None-Match": {"*"}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned If-None-Match: %d", resp.StatusCode)
	}
}

// Without a URLVerifier no signed link is honoured; public variants are
// served as ever.
func TestNoURLVerifier(t *testing.T) {
	e := newEnv(t, envOptions{noURLs: true})
	pub, priv := jobs.NewID(), jobs.NewID()
	e.putVariant(t, pub, "thumb", false)
	e.putVariant(t, priv, "thumb", true)
	exp := time.Now().Add(time.Minute)
	for path, code := range map[string]int{
		jobs.VariantPath(pub, "thumb"): 200,
		jobs.VariantPath(priv, "thumb") + "?" + e.signer.Sign(jobs.VariantPath(priv, "thumb"), exp).Encode(): 403,
		jobs.VariantPath(pub, "thumb") + "?" + e.signer.Sign(jobs.VariantPath(pub, "thumb"), exp).Encode():   403,
	} {
		if resp := e.do(t, context.Background(), "GET", path, nil, nil); resp.StatusCode != code {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, code)
		}
	}
}
