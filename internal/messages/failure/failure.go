// Package failure is the one list of image failure codes: the values of
// ImageError.code that records, API responses and webhook events carry. A
// code is stable and machine-readable; clients may switch on it. The API
// documents this list on ImageError (proto/imagepipe/v1/image.proto); a new
// code joins here and there, never inline.
package failure

// Permanent failures from the image itself: the same input always fails the
// same way, so the image is FAILED at once, without a retry.
const (
	Empty               = "empty"                 // zero bytes of input
	UnsupportedFormat   = "unsupported_format"    // not an allowlisted image format
	Corrupt             = "corrupt"               // truncated, damaged or undecodable data
	TooManyPixels       = "too_many_pixels"       // width×height above the pixel limit
	TooLargeDimensions  = "too_large_dimensions"  // width or height above its limit
	TooManyFrames       = "too_many_frames"       // an animation with more frames than allowed
	Polyglot            = "polyglot"              // an image that is also another kind of file (ZIP, PDF)
	InvalidCrop         = "invalid_crop"          // a variant's crop does not fit inside the image
	MaxBytesUnreachable = "max_bytes_unreachable" // a variant's max_bytes cannot be met at min_quality
	TooLarge            = "too_large"             // a direct upload larger than the upload limit
	UpscaleTooLarge     = "upscale_too_large"     // a variant would enlarge the image more than the upscale limit (4×)
)

// Permanent failures from the image's record or its stores.
const (
	InvalidSpec     = "invalid_spec"     // the stored processing spec no longer validates (a preset changed)
	OriginalMissing = "original_missing" // the original is no longer in the originals store
	EnqueueFailed   = "enqueue_failed"   // the job could not be queued; the upload should be repeated
	// Timeout: an attempt ran past its processing deadline
	// (processor.job-timeout). The same spec on the same original would
	// take as long again, so it is not retried.
	Timeout = "timeout"
)

// Transient outcomes.
const (
	// Retrying is set, with the image still PROCESSING, while a retry is
	// pending after a transient failure.
	Retrying = "retrying"
	// ProcessingFailed: every attempt failed transiently; the job is in the
	// dead-letter queue and can be retried through AdminService.
	ProcessingFailed = "processing_failed"
)

// All lists every code, for documentation and tests.
var All = []string{
	Empty, UnsupportedFormat, Corrupt, TooManyPixels, TooLargeDimensions, TooManyFrames, Polyglot,
	InvalidCrop, MaxBytesUnreachable, TooLarge, UpscaleTooLarge, InvalidSpec, OriginalMissing, EnqueueFailed,
	Timeout, Retrying, ProcessingFailed,
}
