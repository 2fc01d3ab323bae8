package s3blob

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// copyInto copies the staging object to obj.key, replacing its metadata
// with obj's, and returns the new object's modification time. The copy
// appears atomically: CopyObject up to copyLimit, a multipart copy above.
func (s *Store) copyInto(ctx context.Context, obj object, staging string) (time.Time, error) {
	if obj.size > s.copyLimit {
		return s.copyMultipart(ctx, obj, staging)
	}
	out, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:               &s.bucket,
		Key:                  &obj.key,
		CopySource:           aws.String(copySource(s.bucket, staging)),
		MetadataDirective:    types.MetadataDirectiveReplace,
		ContentType:          &obj.contentType,
		CacheControl:         nonEmpty(obj.cacheControl),
		Metadata:             obj.metadata(),
		ServerSideEncryption: s.opts.SSE,
		SSEKMSKeyId:          nonEmpty(s.opts.KMSKeyID),
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("copy from staging: %w", err)
	}
	if r := out.CopyObjectResult; r != nil && r.LastModified != nil {
		return r.LastModified.UTC(), nil
	}
	return time.Now().UTC(), nil
}

// copyMultipart copies the staging object to obj.key in parts of
// copyPartSize bytes, for objects too large for CopyObject.
func (s *Store) copyMultipart(ctx context.Context, obj object, staging string) (time.Time, error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:               &s.bucket,
		Key:                  &obj.key,
		ContentType:          &obj.contentType,
		CacheControl:         nonEmpty(obj.cacheControl),
		Metadata:             obj.metadata(),
		ServerSideEncryption: s.opts.SSE,
		SSEKMSKeyId:          nonEmpty(s.opts.KMSKeyID),
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("multipart copy from staging: %w", err)
	}
	src := copySource(s.bucket, staging)
	var parts []types.CompletedPart
	for off, num := int64(0), int32(1); off < obj.size; off, num = off+s.copyPartSize, num+1 {
		end := min(off+s.copyPartSize, obj.size) - 1
		var out *s3.UploadPartCopyOutput
		out, err = s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket:          &s.bucket,
			Key:             &obj.key,
			UploadId:        created.UploadId,
			PartNumber:      aws.Int32(num),
			CopySource:      &src,
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
		})
		if err != nil {
			break
		}
		parts = append(parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(num)})
	}
	if err == nil {
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          &s.bucket,
			Key:             &obj.key,
			UploadId:        created.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	if err != nil {
		s.abort(ctx, obj.key, aws.ToString(created.UploadId))
		return time.Time{}, fmt.Errorf("multipart copy from staging: %w", err)
	}
	return time.Now().UTC(), nil
}

// copySource returns the x-amz-copy-source value naming key in bucket:
// "bucket/key" with every byte of the key but unreserved characters and
// '/' percent-encoded.
func copySource(bucket, key string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString(bucket)
	b.WriteByte('/')
	for i := range len(key) {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
