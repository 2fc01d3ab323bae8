package gateway

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorBody is the JSON of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error to an HTTP client.
type ErrorDetail struct {
	// HTTP status code.
	Code int `json:"code"`
	// gRPC status name, e.g. "INVALID_ARGUMENT".
	Status string `json:"status"`
	// Stable machine-readable reason, e.g. "INVALID_FIELD", "TOO_LARGE".
	Reason string `json:"reason,omitempty"`
	// The request field at fault.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// restField names a gRPC request field as REST clients see it: upload
// metadata fields are query parameters, the chunks are the body.
func restField(f string) string {
	if f == "chunk" {
		return "body"
	}
	return strings.TrimPrefix(f, "metadata.")
}

const reasonMethodNotAllowed = "METHOD_NOT_ALLOWED"

// httpStatus maps a status onto an HTTP status: the reason refines the
// code where HTTP has a more specific answer.
func httpStatus(st *status.Status, reason string) int {
	switch reason {
	case apperr.ReasonUnsupportedFormat:
		return http.StatusUnsupportedMediaType
	case apperr.ReasonTooLarge:
		return http.StatusRequestEntityTooLarge
	case reasonMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case reasonRequestTimeout, apperr.ReasonUploadIdle:
		return http.StatusRequestTimeout
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

// errorDetail describes err for a client. Only imagepipe's own errors keep
// their message; anything else (a dial failure, a client-side error) gets a
// generic one, so no internal text reaches the client.
func errorDetail(err error) ErrorDetail {
	st := status.Convert(err)
	reason, field := apperr.Info(st)
	msg := st.Message()
	if reason == "" {
		switch st.Code() {
		case codes.Unavailable:
			msg = "service temporarily unavailable, retry"
		case codes.Canceled:
			msg = "request canceled"
		case codes.DeadlineExceeded:
			msg = "deadline exceeded"
		case codes.InvalidArgument, codes.NotFound:
			// grpc-gateway's own parse errors: about the request, safe.
		default:
			msg = "internal error"
			if st.Code() != codes.Internal && st.Code() != codes.Unknown {
				msg = http.StatusText(runtime.HTTPStatusFromCode(st.Code()))
			}
		}
	}
	return ErrorDetail{
		Code:    httpStatus(st, reason),
		Status:  rpccode.Code(st.Code()).String(),
		Reason:  reason,
		Field:   restField(field),
		Message: strings.Replace(msg, "metadata.", "", 1),
	}
}

// writeError answers with err as JSON, with Retry-After when the error
// says when to retry (google.rpc.RetryInfo: a rate limit).
func writeError(w http.ResponseWriter, err error) {
	d := errorDetail(err)
	if after, ok := retryAfter(status.Convert(err)); ok {
		w.Header().Set("Retry-After", strconv.Itoa(after))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(d.Code)
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: d})
}

// retryAfter is a status's RetryInfo delay in whole seconds (at least 1).
func retryAfter(st *status.Status) (int, bool) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return max(1, int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))), true
		}
	}
	return 0, false
}

func errorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	writeError(w, err)
}

func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, code int) {
	switch code {
	case http.StatusMethodNotAllowed:
		writeError(w, &apperr.Error{Code: codes.Unimplemented, Reason: reasonMethodNotAllowed, Msg: "method not allowed"})
	default:
		writeError(w, &apperr.Error{Code: codes.NotFound, Reason: apperr.ReasonNotFound, Msg: "no such route"})
	}
}
