package gateway

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"google.golang.org/grpc/codes"
)

// asset is GET|HEAD /a/{id}/{variant}: a variant from the public store,
// cacheable forever (its URL never changes meaning).
func (g *Gateway) asset(w http.ResponseWriter, r *http.Request, p map[string]string) {
	id, name := p["id"], p["variant"]
	notFound := &apperr.Error{Code: codes.NotFound, Reason: apperr.ReasonNotFound, Msg: "no such variant"}
	if !jobs.ValidID(id) || !spec.ValidName(name) {
		writeError(w, notFound)
		return
	}
	rc, attrs, err := g.variants.Get(r.Context(), id+"/"+name)
	if errors.Is(err, blob.ErrNotFound) {
		writeError(w, notFound)
		return
	}
	if err != nil {
		g.log.Error("read variant", "key", id+"/"+name, "err", err)
		writeError(w, apperr.Unavailable(err))
		return
	}
	defer rc.Close()
	etag := `"` + attrs.ETag + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", attrs.CacheControl)
	if attrs.CacheControl == "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	}
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
		_, _ = io.Copy(w, rc)
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
