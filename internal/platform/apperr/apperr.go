// Package apperr is imagepipe's typed error: a gRPC code, a stable
// machine-readable reason, the offending field, and a public message kept
// apart from the internal cause. One interceptor (Interceptors) turns these
// into gRPC statuses, and the gateway turns statuses into HTTP responses, so
// internal error text never reaches clients.
package apperr

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the ErrorInfo domain of every imagepipe error.
const Domain = "imagepipe"

// Reasons: stable, machine-readable, UPPER_SNAKE_CASE as google.rpc.ErrorInfo wants.
const (
	ReasonInvalidField       = "INVALID_FIELD"
	ReasonEmptyBody          = "EMPTY_BODY"
	ReasonUnsupportedFormat  = "UNSUPPORTED_FORMAT"
	ReasonTooLarge           = "TOO_LARGE"
	ReasonBadBody            = "BAD_BODY"
	ReasonNotFound           = "NOT_FOUND"
	ReasonUnavailable        = "UNAVAILABLE"
	ReasonFailedPrecondition = "FAILED_PRECONDITION"
	ReasonInternal           = "INTERNAL"
	// ReasonUploadIdle: an upload stream sent nothing for the idle timeout
	// (DEADLINE_EXCEEDED; HTTP 408).
	ReasonUploadIdle = "UPLOAD_IDLE"
)

// Error is an error with a public face.
type Error struct {
	Code   codes.Code
	Reason string
	// Field names the request field at fault, in proto field-path form
	// (e.g. "metadata.spec.variants[1].width"); empty when none.
	Field string
	// Msg is safe to show to clients.
	Msg string
	// Err is the internal cause; logged, never sent.
	Err error
	// RetryAfter, when positive, is how long the client should wait
	// before trying again (google.rpc.RetryInfo; HTTP Retry-After).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// GRPCStatus lets status.FromError and grpc-go turn the error into a status
// carrying google.rpc.ErrorInfo, for a field google.rpc.BadRequest, and
// for a RetryAfter google.rpc.RetryInfo.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Msg)
	info := &errdetails.ErrorInfo{Reason: e.Reason, Domain: Domain}
	details := []protoadapt.MessageV1{info}
	if e.Field != "" {
		info.Metadata = map[string]string{"field": e.Field}
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: e.Field, Description: e.Msg},
		}})
	}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	if wd, err := st.WithDetails(details...); err == nil {
		return wd
	}
	return st
}

// InvalidField is an INVALID_ARGUMENT naming field.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Code: codes.InvalidArgument, Reason: ReasonInvalidField, Field: field,
		Msg: field + ": " + fmt.Sprintf(format, args...)}
}

// NotFound says the named thing does not exist.
func NotFound(what, id string) *Error {
	return &Error{Code: codes.NotFound, Reason: ReasonNotFound, Msg: fmt.Sprintf("%s %q not found", what, id)}
}

// FailedPrecondition says the system is not in the state the request needs
// (the job queue has no dead-letter queue, say); the message is shown to
// clients.
func FailedPrecondition(format string, args ...any) *Error {
	return &Error{Code: codes.FailedPrecondition, Reason: ReasonFailedPrecondition, Msg: fmt.Sprintf(format, args...)}
}

// Internal hides err behind a generic message.
func Internal(err error) *Error {
	return &Error{Code: codes.Internal, Reason: ReasonInternal, Msg: "internal error", Err: err}
}

// Unavailable hides err behind a retryable message.
func Unavailable(err error) *Error {
	return &Error{Code: codes.Unavailable, Reason: ReasonUnavailable, Msg: "service temporarily unavailable, retry", Err: err}
}

// Info extracts the reason and field from a gRPC status built from an Error.
func Info(st *status.Status) (reason, field string) {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == Domain {
			return ei.GetReason(), ei.GetMetadata()["field"]
		}
	}
	return "", ""
}

// As is errors.As for *Error.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
