package s3blob

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrInvalidConfig reports an unusable URL or Options value.
var ErrInvalidConfig = errors.New("s3blob: invalid configuration")

// apiCode returns the S3 error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of the response that caused err, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isNotFound reports whether err says that the object (or, for HeadObject
// and HeadBucket, whose 404 has no body, the bucket) does not exist. A
// GetObject on a missing bucket is not "not found": it is a misconfiguration.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	switch apiCode(err) {
	case "NoSuchKey", "NotFound":
		return true
	case "NoSuchBucket":
		return false
	}
	return httpStatus(err) == http.StatusNotFound
}

// isInvalidRange reports whether err is S3's answer to a range that starts
// at or past the end of the object.
func isInvalidRange(err error) bool {
	return apiCode(err) == "InvalidRange" || httpStatus(err) == http.StatusRequestedRangeNotSatisfiable
}

// wrap annotates an SDK error of operation op on key; an error caused by
// the cancellation of ctx wraps ctx.Err(), whatever the SDK made of it.
func wrap(ctx context.Context, op, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("s3blob: %s %q: %w: %w", op, key, cerr, err)
	}
	return fmt.Errorf("s3blob: %s %q: %w", op, key, err)
}
