package s3blob

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// object is what Put stores: its S3 key and metadata. sha256 and size are
// known once the body has been read.
type object struct {
	key          string
	contentType  string
	cacheControl string
	sha256       string
	size         int64
}

// Put implements blob.Store; see the package documentation for how it
// streams and stays atomic.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) (blob.Attrs, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("s3blob: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return blob.Attrs{}, fmt.Errorf("s3blob: put %q: %w", key, err)
	}
	obj := object{
		key:          k,
		contentType:  cmp.Or(opts.ContentType, blob.DefaultContentType),
		cacheControl: opts.CacheControl,
	}
	body := blob.ContextReader(ctx, r)
	// One byte more than a part tells a single-part body from a longer one.
	first, err := io.ReadAll(io.LimitReader(body, s.opts.PartSize+1))
	var modTime time.Time
	switch {
	case err != nil:
		err = fmt.Errorf("read body: %w", err)
	case int64(len(first)) <= s.opts.PartSize:
		sum := sha256.Sum256(first)
		obj.sha256, obj.size = hex.EncodeToString(sum[:]), int64(len(first))
		modTime, err = s.putSingle(ctx, obj, first)
	default:
		modTime, err = s.putMultipart(ctx, &obj, io.MultiReader(bytes.NewReader(first), body))
	}
	if err != nil {
		return blob.Attrs{}, wrap(ctx, "put", key, err)
	}
	return blob.Attrs{
		Key:          key,
		Size:         obj.size,
		ContentType:  obj.contentType,
		ETag:         obj.sha256,
		ModTime:      modTime,
		CacheControl: obj.cacheControl,
	}, nil
}

// putSingle stores a body that is wholly in memory with one PutObject.
func (s *Store) putSingle(ctx context.Context, obj object, body []byte) (time.Time, error) {
	ctx, cancel, err := commitContext(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer cancel()
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               &s.bucket,
		Key:                  &obj.key,
		Body:                 bytes.NewReader(body),
		ContentLength:        aws.Int64(int64(len(body))),
		ContentType:          &obj.contentType,
		CacheControl:         nonEmpty(obj.cacheControl),
		Metadata:             obj.metadata(),
		ServerSideEncryption: s.opts.SSE,
		SSEKMSKeyId:          nonEmpty(s.opts.KMSKeyID),
	})
	return time.Now().UTC(), err
}

// putMultipart uploads body in parts to a staging key, then copies it to
// its key with its metadata. It sets obj's hash and size.
func (s *Store) putMultipart(ctx context.Context, obj *object, body io.Reader) (time.Time, error) {
	staging := s.prefix + stagingDir + "/" + rand.Text()
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(body, h)}
	_, err := s.uploader.Upload(ctx, &s3.PutObjectInput{
		Bucket:               &s.bucket,
		Key:                  &staging,
		Body:                 cr,
		ServerSideEncryption: s.opts.SSE,
		SSEKMSKeyId:          nonEmpty(s.opts.KMSKeyID),
	})
	var uploadID string
	if f := manager.MultiUploadFailure(nil); errors.As(err, &f) {
		uploadID = f.UploadID()
	}
	if err != nil {
		s.discardStaging(ctx, staging, uploadID)
		return time.Time{}, fmt.Errorf("upload: %w", err)
	}
	obj.sha256, obj.size = hex.EncodeToString(h.Sum(nil)), cr.n

	cctx, cancel, err := commitContext(ctx)
	if err != nil {
		s.discardStaging(ctx, staging, "")
		return time.Time{}, err
	}
	defer cancel()
	modTime, err := s.copyInto(cctx, *obj, staging)
	s.discardStaging(cctx, staging, "")
	return modTime, err
}

// discardStaging aborts the multipart upload uploadID (if not empty) and
// deletes the staging object, even if ctx is cancelled. Failures are
// logged: they leave garbage, not a wrong object.
func (s *Store) discardStaging(ctx context.Context, staging, uploadID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if uploadID != "" {
		s.abort(ctx, staging, uploadID)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &staging})
	if err != nil && !isNotFound(err) {
		s.opts.Logger.WarnContext(ctx, "s3blob: delete staging object", "bucket", s.bucket, "key", staging, "err", err)
	}
}

// abort aborts a multipart upload, logging a failure.
func (s *Store) abort(ctx context.Context, key, uploadID string) {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: &uploadID,
	})
	if err != nil && apiCode(err) != "NoSuchUpload" {
		s.opts.Logger.WarnContext(ctx, "s3blob: abort multipart upload", "bucket", s.bucket, "key", key, "upload_id", uploadID, "err", err)
	}
}

// commitContext checks ctx one last time and returns a context for the
// request(s) that make a write visible: they ignore ctx's cancellation, so
// that a Put either fails with nothing stored or completes, and are bounded
// by commitTimeout.
func commitContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	return c, cancel, nil
}

// metadata returns the user metadata stored with obj.
func (obj object) metadata() map[string]string {
	return map[string]string{metaSHA256: obj.sha256}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
