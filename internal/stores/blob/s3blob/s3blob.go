// Package s3blob is a blob.Store on Amazon S3 or an S3-compatible server
// such as MinIO.
//
// It registers the "s3" URL scheme:
//
//	s3://bucket[/prefix][?param=value&...]
//
// The host is the bucket; the path, if any, is a key prefix under which
// every object is stored (it must itself be a valid blob key). Parameters,
// each at most once and not empty; any other parameter is an error:
//
//	region=NAME         AWS region (default: the standard AWS configuration)
//	path_style=BOOL     path-style addressing (default: true when an endpoint
//	                    override is configured, false otherwise)
//	sse=AES256|aws:kms  server-side encryption of written objects
//	kms_key_id=ID       KMS key for sse=aws:kms (default: the AWS managed key)
//	part_size=SIZE      multipart part size, e.g. 8MiB (5MiB to 5GiB; default 8MiB)
//	concurrency=N       parts uploaded in parallel per Put (1 to 64; default 2)
//
// Credentials and region come from the standard AWS chain
// (config.LoadDefaultConfig). Endpoint overrides use the standard variables
// AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL (or endpoint_url in the shared
// config file), which the SDK reads itself.
//
// # Keys
//
// A key is stored as the prefix, a slash and the key, except that a key
// segment longer than MaxSegmentLength (255 bytes, the limit of servers
// that keep objects as files, such as MinIO) is stored as ".s3blob-long-"
// and its hex SHA-256. Segments starting with ".s3blob-" are reserved for
// such names and for staging objects: keys holding one are rejected with
// blob.ErrInvalidKey, as are keys longer than 1024 bytes once stored.
//
// # Writes
//
// Put streams: a body of at most the part size is buffered once, hashed and
// stored with one PutObject. A larger body is uploaded with the SDK's
// multipart uploader (memory per Put: about part size × (concurrency + 4))
// to a staging key "<prefix>/.s3blob-staging/<random>", hashed on the way,
// then copied server-side to its key with its metadata (CopyObject, or a
// multipart copy above 5 GiB) and the staging object deleted; the copy
// costs one more request and, on S3, the time to copy the bytes. Either
// way the object appears at once and whole, with its metadata.
//
// If the body fails or ctx is cancelled before the request that makes the
// object visible, the multipart upload is aborted and the staging object
// deleted (with a context that survives the cancellation), so nothing is
// left; from that request on, Put runs to completion, bounded by a
// timeout, even if ctx is cancelled. A crash can still leave a staging
// object or an incomplete multipart upload: a bucket lifecycle rule that
// expires "<prefix>/.s3blob-staging/" and aborts incomplete multipart
// uploads after a day removes them.
//
// # Permissions
//
// The store needs s3:GetObject, s3:PutObject, s3:DeleteObject and
// s3:AbortMultipartUpload on "<prefix>/*", and s3:ListBucket on the bucket:
// without it S3 answers 403 instead of 404 for a missing object, which is
// then an error rather than blob.ErrNotFound. EnsureBucket also needs
// s3:CreateBucket when the bucket is missing.
//
// # ETags
//
// Attrs.ETag is the hex SHA-256 of the content, stored with the object as
// user metadata (x-amz-meta-sha256), so it is the same for the same content
// whether or not it was uploaded in parts. Objects written by other tools
// (or through PresignPost) have no such metadata; their ETag is S3's, with
// the quotes removed.
package s3blob

import (
	"context"
	"fmt"
	"github.com/imagepipe/imagepipe/internal/platform/awsutil"
	"log/slog"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// Scheme is the URL scheme this driver registers with package blob.
const Scheme = "s3"

// Defaults and limits of Options.
const (
	// DefaultPartSize is the multipart part size, and the largest body
	// stored with a single PutObject.
	DefaultPartSize int64 = 8 << 20
	// MinPartSize is the smallest part size S3 accepts.
	MinPartSize int64 = manager.MinUploadPartSize
	// MaxPartSize is the largest part size S3 accepts.
	MaxPartSize int64 = 5 << 30
	// DefaultConcurrency is the number of parts uploaded in parallel.
	DefaultConcurrency = 2
	// MaxConcurrency bounds Options.Concurrency.
	MaxConcurrency = 64
)

const (
	// metaSHA256 is the user metadata key holding the content's SHA-256.
	metaSHA256 = "sha256"
	// commitTimeout bounds the requests Put makes after its commit point,
	// which ignore cancellation of the caller's context.
	commitTimeout = 5 * time.Minute
	// copyLimit is the largest object CopyObject can copy.
	copyLimit int64 = 5 << 30
	// copyPartSize is the part size of multipart copies.
	copyPartSize int64 = 512 << 20
)

func init() {
	blob.Register(Scheme, func(ctx context.Context, u *url.URL) (blob.Store, error) {
		c, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		var loadOpts []func(*config.LoadOptions) error
		if c.Region != "" {
			loadOpts = append(loadOpts, config.WithRegion(c.Region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
		if err != nil {
			return nil, fmt.Errorf("s3blob: load AWS configuration: %w", err)
		}
		return New(ctx, cfg, c.Bucket, c.Prefix, c.Options)
	})
}

var _ blob.PostSigner = (*Store)(nil)

// Options tunes a Store. The zero value means the defaults.
type Options struct {
	// PathStyle forces path-style (true) or virtual-hosted-style (false)
	// requests. Nil chooses path style when an endpoint override is
	// configured (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, endpoint_url in
	// the shared config, or aws.Config.BaseEndpoint), as S3-compatible
	// servers such as MinIO need, and virtual-hosted style otherwise.
	PathStyle *bool
	// SSE is the server-side encryption of written objects: empty (the
	// bucket's default), types.ServerSideEncryptionAes256 or
	// types.ServerSideEncryptionAwsKms.
	SSE types.ServerSideEncryption
	// KMSKeyID is the KMS key for SSE aws:kms; empty means the AWS managed
	// key. It is an error with any other SSE.
	KMSKeyID string
	// PartSize is the multipart part size in bytes, between MinPartSize and
	// MaxPartSize; 0 means DefaultPartSize.
	PartSize int64
	// Concurrency is the number of parts uploaded in parallel by one Put,
	// between 1 and MaxConcurrency; 0 means DefaultConcurrency.
	Concurrency int
	// Logger receives failures of best-effort cleanups; nil means
	// slog.Default().
	Logger *slog.Logger
}

// validate checks o and fills in the defaults.
func (o *Options) validate() error {
	switch o.SSE {
	case "", types.ServerSideEncryptionAes256, types.ServerSideEncryptionAwsKms:
	default:
		return fmt.Errorf("%w: sse %q, want %q or %q", ErrInvalidConfig, o.SSE,
			types.ServerSideEncryptionAes256, types.ServerSideEncryptionAwsKms)
	}
	if o.KMSKeyID != "" && o.SSE != types.ServerSideEncryptionAwsKms {
		return fmt.Errorf("%w: a KMS key id needs sse %q", ErrInvalidConfig, types.ServerSideEncryptionAwsKms)
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < MinPartSize || o.PartSize > MaxPartSize {
		return fmt.Errorf("%w: part size %d outside [%d, %d]", ErrInvalidConfig, o.PartSize, MinPartSize, MaxPartSize)
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Concurrency < 1 || o.Concurrency > MaxConcurrency {
		return fmt.Errorf("%w: concurrency %d outside [1, %d]", ErrInvalidConfig, o.Concurrency, MaxConcurrency)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Store is a blob.Store on one S3 bucket, under an optional key prefix. It
// is safe for concurrent use.
type Store struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ending in "/"
	opts     Options

	// copyLimit and copyPartSize are the constants of the same names,
	// lowered by tests to exercise multipart copies.
	copyLimit, copyPartSize int64
}

// New returns a Store for bucket, storing objects under prefix (empty, or a
// valid blob key). cfg supplies credentials, region, endpoint and HTTP
// client, typically from config.LoadDefaultConfig. New makes no request:
// see EnsureBucket.
func New(_ context.Context, cfg aws.Config, bucket, prefix string, opts Options) (*Store, error) {
	if bucket == "" {
		return nil, fmt.Errorf("%w: empty bucket name", ErrInvalidConfig)
	}
	if prefix != "" {
		if err := validatePrefix(prefix); err != nil {
			return nil, fmt.Errorf("%w: prefix: %w", ErrInvalidConfig, err)
		}
		prefix += "/"
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: no AWS region: set AWS_REGION or region= in the URL", ErrInvalidConfig)
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// Downloads of objects without a full-object checksum (copies,
		// ranges) cannot be validated; the SDK would log that every time.
		o.DisableLogOutputChecksumValidationSkipped = true
		o.HTTPClient = awsutil.DetachBodies(o.HTTPClient)
		// o.BaseEndpoint already holds any configured endpoint override.
		switch {
		case opts.PathStyle != nil:
			o.UsePathStyle = *opts.PathStyle
		case o.BaseEndpoint != nil:
			o.UsePathStyle = true
		}
	})
	s := &Store{
		client: client,
		// manager.Uploader is deprecated in favour of
		// feature/s3/transfermanager, which is still v0.
		uploader: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = opts.PartSize
			u.Concurrency = opts.Concurrency
			// Put aborts failed uploads itself, with a context that
			// survives the caller's cancellation.
			u.LeavePartsOnError = true
		}),
		bucket:       bucket,
		prefix:       prefix,
		opts:         opts,
		copyLimit:    copyLimit,
		copyPartSize: copyPartSize,
	}
	return s, nil
}

// Bucket returns the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the key prefix of the store's objects: "" or a prefix
// ending in "/".
func (s *Store) Prefix() string { return s.prefix }

// PathStyle reports whether the store sends path-style requests.
func (s *Store) PathStyle() bool { return s.client.Options().UsePathStyle }

// Close implements blob.Store. It holds no resources and always succeeds.
func (s *Store) Close() error { return nil }
