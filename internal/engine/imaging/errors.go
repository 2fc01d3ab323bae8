package imaging

import (
	"errors"
	"strings"

	"github.com/imagepipe/imagepipe/internal/messages/failure"
)

// Error codes of *Error. Every one of them is permanent: the same input will
// always fail the same way, so a retry cannot help. They are the engine's
// part of the one list in package failure.
const (
	CodeEmpty               = failure.Empty               // zero bytes of input
	CodeUnsupportedFormat   = failure.UnsupportedFormat   // not an allowlisted image format
	CodeCorrupt             = failure.Corrupt             // truncated, damaged or undecodable data
	CodeTooManyPixels       = failure.TooManyPixels       // width*height above Limits.MaxPixels
	CodeTooLargeDimensions  = failure.TooLargeDimensions  // width or height above Limits.MaxWidth/MaxHeight
	CodeTooManyFrames       = failure.TooManyFrames       // an animation with more frames than Limits.MaxFrames
	CodePolyglot            = failure.Polyglot            // an image that is also another kind of file (ZIP, PDF)
	CodeInvalidCrop         = failure.InvalidCrop         // Variant.Crop does not fit inside the image
	CodeMaxBytesUnreachable = failure.MaxBytesUnreachable // Variant.MaxBytes cannot be met even at MinQuality
	CodeUpscaleTooLarge     = failure.UpscaleTooLarge     // a variant enlarges its source more than Limits.MaxUpscale times
)

// Error is a permanent, input-caused failure. Error() is safe to show to the
// uploader: it never contains libvips internals. The libvips detail, when
// there is one, is available through errors.Unwrap for logs.
type Error struct {
	Code string
	Msg  string

	cause error
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "image: " + e.Code
	}
	return e.Msg
}

// Unwrap returns the underlying libvips/govips error, if any. Its text is for
// logs only, never for users.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, imaging.ErrCorrupt) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is. Do not modify them.
var (
	ErrEmpty               = &Error{Code: CodeEmpty, Msg: "the upload is empty"}
	ErrUnsupportedFormat   = &Error{Code: CodeUnsupportedFormat, Msg: "the file is not a supported image format (JPEG, PNG, WebP, GIF, TIFF, HEIF, AVIF)"}
	ErrCorrupt             = &Error{Code: CodeCorrupt, Msg: "the image is corrupt or truncated"}
	ErrTooManyPixels       = &Error{Code: CodeTooManyPixels, Msg: "the image has too many pixels"}
	ErrTooLargeDimensions  = &Error{Code: CodeTooLargeDimensions, Msg: "the image is too wide or too tall"}
	ErrTooManyFrames       = &Error{Code: CodeTooManyFrames, Msg: "the animation has too many frames"}
	ErrPolyglot            = &Error{Code: CodePolyglot, Msg: "the file is an image and another kind of file at once"}
	ErrInvalidCrop         = &Error{Code: CodeInvalidCrop, Msg: "the crop rectangle does not fit inside the image"}
	ErrMaxBytesUnreachable = &Error{Code: CodeMaxBytesUnreachable, Msg: "the variant cannot be made small enough"}
	ErrUpscaleTooLarge     = &Error{Code: CodeUpscaleTooLarge, Msg: "a variant would enlarge the image too much"}
)

// ErrInvalidVariant is wrapped by the (non-*Error) error Process returns for
// options that fail its own sanity checks. Options are meant to be validated
// before Process, so this indicates a programming error.
var ErrInvalidVariant = errors.New("imaging: invalid variant")

func newError(proto *Error, msg string, cause error) *Error {
	e := &Error{Code: proto.Code, Msg: proto.Msg, cause: cleanCause(cause)}
	if msg != "" {
		e.Msg = msg
	}
	return e
}

// govipsError strips the Go stack trace that govips appends to every libvips
// error message.
type govipsError struct{ msg string }

func (g govipsError) Error() string { return g.msg }

func cleanCause(err error) error {
	if err == nil {
		return nil
	}
	msg, _, _ := strings.Cut(err.Error(), "\nStack:")
	msg = strings.TrimSpace(msg)
	if msg == "" {
		// libvips' error buffer is process-global; under concurrency another
		// goroutine may have consumed the message.
		msg = "libvips error (no message)"
	}
	return govipsError{msg: msg}
}
