package gateway

import (
	"context"
	"net/http"

	"google.golang.org/grpc/metadata"
)

// headerAuthorization carries the caller's "Bearer <API key or JWT>". The
// gateway checks nothing: the services authenticate, and the gateway only
// passes the header on, as gRPC metadata "authorization". It is never
// logged.
const headerAuthorization = "Authorization"

// outgoing is the context of the gRPC calls a custom route makes for r:
// r's (its span the parent of theirs), with the caller's credential as
// the grpc-gateway routes pass it. A credential that cannot be gRPC metadata (not
// printable ASCII) is dropped, as grpc-gateway drops it: the service then
// sees none.
func outgoing(r *http.Request) context.Context {
	ctx := r.Context()
	if v := r.Header.Get(headerAuthorization); v != "" && printableASCII(v) {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", v)
	}
	return ctx
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// withChallenge gives every 401 the WWW-Authenticate header it needs,
// whichever path wrote it (a grpc-gateway route, its stream error, a
// custom route).
func withChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&challengeWriter{ResponseWriter: w, r: r}, r)
	})
}

// challengeWriter adds the challenge when a 401 is written.
type challengeWriter struct {
	http.ResponseWriter
	r *http.Request
}

func (c *challengeWriter) WriteHeader(code int) {
	challenge(c.Header(), c.r, code)
	c.ResponseWriter.WriteHeader(code)
}

// Flush is for grpc-gateway's streams, which need an http.Flusher.
func (c *challengeWriter) Flush() { _ = http.NewResponseController(c.ResponseWriter).Flush() }

// Unwrap is for http.ResponseController.
func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// challenge adds the WWW-Authenticate header of a 401 (RFC 6750 §3): the
// realm, and error="invalid_token" when r carried a credential, which was
// so refused.
func challenge(h http.Header, r *http.Request, code int) {
	if code != http.StatusUnauthorized {
		return
	}
	v := `Bearer realm="imagepipe"`
	if r.Header.Get(headerAuthorization) != "" {
		v += `, error="invalid_token"`
	}
	h.Set("WWW-Authenticate", v)
}
