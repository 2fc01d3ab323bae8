package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"google.golang.org/grpc/codes"
)

// signedMaxAge caps how long a browser may keep a variant fetched through a
// signed link: never past the link's expiry, and at most this.
const signedMaxAge = time.Hour

var (
	errNoVariant = &apperr.Error{Code: codes.NotFound, Reason: apperr.ReasonNotFound, Msg: "no such variant"}
	errPrivate   = &apperr.Error{Code: codes.PermissionDenied, Reason: auth.ReasonPermissionDenied,
		Msg: "this variant is private: it needs a signed link (exp and sig), from POST /v1/images/{id}:signUrl"}
	errLinkExpired = &apperr.Error{Code: codes.PermissionDenied, Reason: auth.ReasonPermissionDenied,
		Msg: "this link has expired: ask for a new one"}
	errBadLink = &apperr.Error{Code: codes.PermissionDenied, Reason: auth.ReasonPermissionDenied,
		Msg: "this link's signature is not valid"}
	errIncompleteLink = &apperr.Error{Code: codes.PermissionDenied, Reason: auth.ReasonPermissionDenied,
		Msg: "a signed link needs both exp and sig"}
	errNoSigning = &apperr.Error{Code: codes.PermissionDenied, Reason: auth.ReasonPermissionDenied,
		Msg: "this server serves no signed links"}
)

// asset is GET|HEAD /a/{id}/{variant}: a variant from the variants store.
//
// Without exp and sig: a public variant, cacheable forever (its URL never
// changes meaning); a private one is 403. With them (a signed link, see
// urlsign): once the signature checks out, the private variant, or the
// public one if the image is public, cacheable only by the browser and
// not past the link's expiry. A forged, altered or expired link is 403, a
// deleted variant 404.
func (g *Gateway) asset(w http.ResponseWriter, r *http.Request, p map[string]string) {
	id, name := p["id"], p["variant"]
	if !jobs.ValidID(id) || !spec.ValidName(name) {
		writeError(w, errNoVariant)
		return
	}
	var q url.Values
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	if !q.Has(urlsign.ParamExpires) && !q.Has(urlsign.ParamSignature) {
		g.publicAsset(w, r, id, name)
		return
	}
	exp, sig := q.Get(urlsign.ParamExpires), q.Get(urlsign.ParamSignature)
	now := time.Now()
	if err := g.verify(jobs.VariantPath(id, name), exp, sig, now); err != nil {
		writeError(w, err)
		return
	}
	rc, attrs, err := g.open(r, jobs.VariantKey(id, name, true), jobs.VariantKey(id, name, false))
	if err != nil {
		writeError(w, err)
		return
	}
	defer rc.Close()
	g.serveVariant(w, r, rc, attrs, "private, max-age="+strconv.FormatInt(signedAge(exp, now), 10))
}

// publicAsset serves an unsigned request: the public variant, or 403 if
// there is only a private one.
func (g *Gateway) publicAsset(w http.ResponseWriter, r *http.Request, id, name string) {
	rc, attrs, err := g.open(r, jobs.VariantKey(id, name, false))
	if errors.Is(err, errNoVariant) {
		switch _, herr := g.variants.Head(r.Context(), jobs.VariantKey(id, name, true)); {
		case herr == nil:
			err = errPrivate
		case !errors.Is(herr, blob.ErrNotFound):
			err = g.unavailable(jobs.VariantKey(id, name, true), herr)
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	defer rc.Close()
	cc := attrs.CacheControl
	if cc == "" {
		cc = "public, max-age=31536000, immutable"
	}
	g.serveVariant(w, r, rc, attrs, cc)
}

// verify checks a signed link to path: a 403 unless it is genuine and
// current.
func (g *Gateway) verify(path, exp, sig string, now time.Time) error {
	if g.urls == nil {
		return errNoSigning
	}
	switch err := g.urls.Verify(path, exp, sig, now); {
	case err == nil:
		return nil
	case errors.Is(err, urlsign.ErrExpired):
		return errLinkExpired
	case errors.Is(err, urlsign.ErrMissing):
		return errIncompleteLink
	default:
		return errBadLink
	}
}

// signedAge is the max-age of a variant served through a link expiring at
// exp (unix seconds): the time left, at most signedMaxAge.
func signedAge(exp string, now time.Time) int64 {
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return 0
	}
	return max(0, min(unix-now.Unix(), int64(signedMaxAge/time.Second)))
}

// open opens the first of keys that exists: errNoVariant if none does.
func (g *Gateway) open(r *http.Request, keys ...string) (io.ReadCloser, blob.Attrs, error) {
	for _, key := range keys {
		rc, attrs, err := g.variants.Get(r.Context(), key)
		if errors.Is(err, blob.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, blob.Attrs{}, g.unavailable(key, err)
		}
		return rc, attrs, nil
	}
	return nil, blob.Attrs{}, errNoVariant
}

func (g *Gateway) unavailable(key string, err error) error {
	g.log.Error("read variant", "key", key, "err", err)
	return apperr.Unavailable(err)
}

// serveVariant answers with an opened variant: its ETag (304 when it
// matches If-None-Match), the Cache-Control given, and the body unless
// the request is a HEAD, written as long as the client keeps reading.
func (g *Gateway) serveVariant(w http.ResponseWriter, r *http.Request, rc io.Reader, attrs blob.Attrs, cacheControl string) {
	etag := `"` + attrs.ETag + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheControl)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", attrs.ContentType)
	h.Set("Content-Length", strconv.FormatInt(attrs.Size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	if !attrs.ModTime.IsZero() {
		h.Set("Last-Modified", attrs.ModTime.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		copyMoving(w, rc, attrs.Size, g.cfg.WriteTimeout)
	}
}

// etagMatch implements If-None-Match's weak comparison.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
