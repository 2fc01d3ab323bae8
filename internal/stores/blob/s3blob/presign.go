package s3blob

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// MaxPresignTTL is the longest validity of a presigned URL (SigV4's limit).
const MaxPresignTTL = 7 * 24 * time.Hour

// PresignGet returns a URL that downloads key with a plain HTTP GET, without
// credentials, for ttl (at most MaxPresignTTL). The URL is signed for the
// store's endpoint host; a missing key answers 404. ctx is only used for
// resolving credentials: no request is made.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	k, err := s.presignKey("presign get", key, ttl)
	if err != nil {
		return "", err
	}
	req, err := s3.NewPresignClient(s.client).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: &s.bucket, Key: &k}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", wrap(ctx, "presign get", key, err)
	}
	return req.URL, nil
}

// presignKey validates the arguments of a presign call and returns the S3
// key.
func (s *Store) presignKey(op, key string, ttl time.Duration) (string, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return "", fmt.Errorf("s3blob: %s: %w", op, err)
	}
	if ttl <= 0 || ttl > MaxPresignTTL {
		return "", fmt.Errorf("s3blob: %s %q: ttl %v outside (0, %v]", op, key, ttl, MaxPresignTTL)
	}
	return k, nil
}

// PresignPost returns a POST policy that uploads key for ttl (at most
// MaxPresignTTL), without credentials, refused by the store itself unless
// the file is 1..maxBytes bytes (content-length-range) and its
// Content-Type field is contentType (blob.DefaultContentType if empty),
// which Fields carry. The size limit is enforced by S3, not trusted to the
// client. A POST may be repeated while the policy is valid, and overwrites.
//
// Such an upload bypasses Put: it gets the bucket's default encryption,
// not the store's sse option, and no SHA-256 metadata, so its Attrs.ETag is
// S3's ETag (the MD5 hex of a single-part upload).
func (s *Store) PresignPost(ctx context.Context, key, contentType string, maxBytes int64, ttl time.Duration) (blob.PostPolicy, error) {
	k, err := s.presignKey("presign post", key, ttl)
	if err != nil {
		return blob.PostPolicy{}, err
	}
	if maxBytes < 1 {
		return blob.PostPolicy{}, fmt.Errorf("s3blob: presign post %q: max bytes %d < 1", key, maxBytes)
	}
	ct := cmp.Or(contentType, blob.DefaultContentType)
	req, err := s3.NewPresignClient(s.client).PresignPostObject(ctx,
		&s3.PutObjectInput{Bucket: &s.bucket, Key: &k, ContentType: &ct},
		func(o *s3.PresignPostOptions) {
			o.Expires = ttl
			o.Conditions = []any{
				[]any{"content-length-range", 1, maxBytes},
				map[string]string{"Content-Type": ct},
			}
		})
	if err != nil {
		return blob.PostPolicy{}, wrap(ctx, "presign post", key, err)
	}
	fields := map[string]string{"Content-Type": ct}
	for name, v := range req.Values {
		fields[name] = v
	}
	return blob.PostPolicy{URL: req.URL, Fields: fields}, nil
}
