package gateway

import (
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc/codes"
)

// uploadPath is the streamed upload route, the one route that changes
// state without a JSON body.
const uploadPath = "/v1/images"

// requireContentType refuses, with a 415 and before any gRPC call, a
// request that changes state (POST, PUT, PATCH, DELETE) with a body a web
// page could send cross-site without asking (a form: text/plain,
// application/x-www-form-urlencoded, multipart/form-data): such routes take
// only application/json, the upload route only its own types (an image
// type, application/octet-stream, multipart/form-data). A request without
// a body and without Content-Type (POST .../{id}:revoke, DELETE) passes.
func requireContentType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			next.ServeHTTP(w, r)
			return
		}
		if err := checkContentType(r); err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

var errJSONContentType = &apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonUnsupportedFormat, Field: "Content-Type",
	Msg: "Content-Type must be application/json"}

// checkContentType is nil if r's Content-Type suits its route.
func checkContentType(r *http.Request) error {
	header := r.Header.Get("Content-Type")
	if r.Method == http.MethodPost && r.URL.Path == uploadPath {
		ct, _, err := mime.ParseMediaType(header)
		if header != "" && (err != nil || (ct != "multipart/form-data" && !uploadContentType(ct))) {
			return errUploadContentType
		}
		return nil
	}
	if header == "" {
		if !emptyBody(r) {
			return errJSONContentType
		}
		return nil
	}
	ct, params, err := mime.ParseMediaType(header)
	if err != nil || ct != "application/json" {
		return errJSONContentType
	}
	for k, v := range params {
		// JSON is UTF-8 (RFC 8259 §8.1): a charset may only say so.
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return errJSONContentType
		}
	}
	return nil
}

// emptyBody reports whether r has no body. A body of unknown length
// (chunked) is probed for a first byte: a body is refused anyway.
func emptyBody(r *http.Request) bool {
	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0:
		return true
	case r.ContentLength > 0:
		return false
	}
	var first [1]byte
	n, _ := io.ReadFull(r.Body, first[:])
	return n == 0
}
