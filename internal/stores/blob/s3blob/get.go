package s3blob

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Attrs, error) {
	return s.get(ctx, "get", key, nil)
}

// GetRange implements blob.Store. The common case is one ranged GetObject;
// an empty range (length 0, or offset == size, which S3 answers with HTTP
// 416) is answered with a HeadObject instead.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, blob.Attrs, error) {
	if offset < 0 {
		if _, err := s.objectKey(key); err != nil {
			return nil, blob.Attrs{}, fmt.Errorf("s3blob: get range: %w", err)
		}
		return nil, blob.Attrs{}, fmt.Errorf("s3blob: get range %q: offset %d: %w", key, offset, blob.ErrInvalidRange)
	}
	if length == 0 {
		return s.emptyRange(ctx, key, offset)
	}
	var rng *string
	switch {
	case length > 0 && length <= math.MaxInt64-offset:
		rng = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		rng = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	rc, a, err := s.get(ctx, "get range", key, rng)
	if rng != nil && isInvalidRange(err) {
		return s.emptyRange(ctx, key, offset)
	}
	return rc, a, err
}

// emptyRange answers a range that holds no byte: an empty body if offset
// is within [0, size], ErrInvalidRange otherwise.
func (s *Store) emptyRange(ctx context.Context, key string, offset int64) (io.ReadCloser, blob.Attrs, error) {
	a, err := s.head(ctx, "get range", key)
	if err != nil {
		return nil, blob.Attrs{}, err
	}
	if offset > a.Size {
		return nil, blob.Attrs{}, fmt.Errorf("s3blob: get range %q: offset %d of %d bytes: %w", key, offset, a.Size, blob.ErrInvalidRange)
	}
	return http.NoBody, a, nil
}

// get runs a GetObject, ranged if rng is not nil.
func (s *Store) get(ctx context.Context, op, key string, rng *string) (io.ReadCloser, blob.Attrs, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return nil, blob.Attrs{}, fmt.Errorf("s3blob: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, blob.Attrs{}, fmt.Errorf("s3blob: %s %q: %w", op, key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k, Range: rng})
	if err != nil {
		return nil, blob.Attrs{}, readErr(ctx, op, key, err)
	}
	size := aws.ToInt64(out.ContentLength)
	if rng != nil {
		total, ok := rangeTotal(aws.ToString(out.ContentRange))
		if !ok {
			_ = out.Body.Close()
			return nil, blob.Attrs{}, fmt.Errorf("s3blob: %s %q: response to Range %q has Content-Range %q, want bytes first-last/size",
				op, key, *rng, aws.ToString(out.ContentRange))
		}
		size = total
	}
	a := attrs(key, size, out.ContentType, out.CacheControl, out.ETag, out.LastModified, out.Metadata)
	return out.Body, a, nil
}

// Head implements blob.Store.
func (s *Store) Head(ctx context.Context, key string) (blob.Attrs, error) {
	return s.head(ctx, "head", key)
}

// head runs a HeadObject for operation op.
func (s *Store) head(ctx context.Context, op, key string) (blob.Attrs, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("s3blob: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return blob.Attrs{}, fmt.Errorf("s3blob: %s %q: %w", op, key, err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return blob.Attrs{}, readErr(ctx, op, key, err)
	}
	return attrs(key, aws.ToInt64(out.ContentLength), out.ContentType, out.CacheControl, out.ETag, out.LastModified, out.Metadata), nil
}

// Delete implements blob.Store. Deleting a missing key succeeds.
func (s *Store) Delete(ctx context.Context, key string) error {
	k, err := s.objectKey(key)
	if err != nil {
		return fmt.Errorf("s3blob: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3blob: delete %q: %w", key, err)
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil && !isNotFound(err) {
		return wrap(ctx, "delete", key, err)
	}
	return nil
}

// attrs builds the attributes of an object from a GetObject or HeadObject
// response. The ETag is the stored SHA-256 if there is one, otherwise S3's
// ETag without its quotes.
func attrs(key string, size int64, contentType, cacheControl, etag *string, modTime *time.Time, meta map[string]string) blob.Attrs {
	tag := meta[metaSHA256]
	if !isSHA256Hex(tag) {
		tag = strings.Trim(aws.ToString(etag), `"`)
	}
	return blob.Attrs{
		Key:          key,
		Size:         size,
		ContentType:  cmp.Or(aws.ToString(contentType), blob.DefaultContentType),
		ETag:         tag,
		ModTime:      aws.ToTime(modTime).UTC(),
		CacheControl: aws.ToString(cacheControl),
	}
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// rangeTotal returns the object size from a Content-Range value such as
// "bytes 10-19/100".
func rangeTotal(contentRange string) (int64, bool) {
	rest, ok := strings.CutPrefix(contentRange, "bytes ")
	_, total, found := strings.Cut(rest, "/")
	if !ok || !found {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil && n >= 0
}

// readErr annotates an error of a read: a missing object wraps
// blob.ErrNotFound.
func readErr(ctx context.Context, op, key string, err error) error {
	if isNotFound(err) {
		err = fmt.Errorf("%w: %w", blob.ErrNotFound, err)
	}
	return wrap(ctx, op, key, err)
}
