package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// tusd answers the protocol errors it finds itself (a wrong offset, a
// body past the length, a header it does not take) as plain text,
// "ERR_MISMATCHED_OFFSET: mismatched offset". tusPlainError turns such an
// answer into the gateway's JSON error body, naming the header at fault,
// as the errors of the store (tusError) and of every other route are.

// tusHeaderAtFault names the request header each tusd error code is about.
var tusHeaderAtFault = map[string]string{
	"ERR_MISMATCHED_OFFSET":     "Upload-Offset",
	"ERR_INVALID_OFFSET":        "Upload-Offset",
	"ERR_UPLOAD_SIZE_EXCEEDED":  "Upload-Length",
	"ERR_MAX_SIZE_EXCEEDED":     "Upload-Length",
	"ERR_INVALID_UPLOAD_LENGTH": "Upload-Length",
	"ERR_INVALID_CONTENT_TYPE":  "Content-Type",
	"ERR_UNSUPPORTED_VERSION":   "Tus-Resumable",
	"ERR_NOT_IMPLEMENTED":       "Upload-Defer-Length",
	"ERR_UPLOAD_NOT_FOUND":      "id",
	"ERR_NOT_FOUND":             "id",
}

// maxTusPlainError bounds what is kept of a plain-text error answer.
const maxTusPlainError = 4 << 10

// tusPlainError makes the JSON body of a plain-text error answer text,
// sent with status code.
func tusPlainError(code int, text []byte) []byte {
	msg := strings.TrimSpace(string(text))
	tusCode, rest, found := strings.Cut(msg, ": ")
	if !found || !strings.HasPrefix(tusCode, "ERR_") {
		tusCode, rest = "", msg
	}
	if rest == "" {
		rest = http.StatusText(code)
	}
	d := ErrorDetail{Code: code, Status: grpcStatusOf(code), Reason: strings.TrimPrefix(tusCode, "ERR_"),
		Field: tusHeaderAtFault[tusCode], Message: rest}
	body := tusErrorBody{Code: code, Message: rest, Error: d}
	if d.Reason != "" || d.Field != "" {
		body.Details = []tusErrorDetail{{Reason: d.Reason, Field: d.Field}}
	}
	b, _ := json.Marshal(body)
	return b
}

// grpcStatusOf names the gRPC status an HTTP error status stands for, as
// ErrorDetail.Status does on every other route.
func grpcStatusOf(code int) string {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusNotFound, http.StatusGone:
		return "NOT_FOUND"
	case http.StatusConflict, http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	}
	return "UNKNOWN"
}

// plainErrorBuffer holds a plain-text error answer of tusd's until
// tusWriter.finish rewrites it.
type plainErrorBuffer struct {
	code int
	buf  bytes.Buffer
}

func (p *plainErrorBuffer) write(b []byte) {
	if room := maxTusPlainError - p.buf.Len(); room > 0 {
		p.buf.Write(b[:min(len(b), room)])
	}
}

func (p *plainErrorBuffer) send(w http.ResponseWriter) {
	body := tusPlainError(p.code, p.buf.Bytes())
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(p.code)
	_, _ = w.Write(body)
}
