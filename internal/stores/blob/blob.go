package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors. Drivers wrap them with %w so callers test with errors.Is.
var (
	// ErrNotFound reports that no object exists under the key.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey reports a key rejected by ValidateKey (or one a driver
	// cannot represent).
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrInvalidRange reports a GetRange offset outside [0, size].
	ErrInvalidRange = errors.New("blob: invalid range")
	// ErrUnknownScheme reports that Open found no driver for a URL scheme.
	ErrUnknownScheme = errors.New("blob: unknown scheme")
)

// DefaultContentType is stored when PutOptions.ContentType is empty.
const DefaultContentType = "application/octet-stream"

// Attrs describes a stored object.
type Attrs struct {
	// Key is the object's key.
	Key string
	// Size is the size of the whole object in bytes.
	Size int64
	// ContentType is the media type given to Put (DefaultContentType if none).
	ContentType string
	// ETag is an unquoted opaque content tag: equal for equal content,
	// different for different content.
	ETag string
	// ModTime is when the object was last written.
	ModTime time.Time
	// CacheControl is the Cache-Control value given to Put, if any.
	CacheControl string
}

// PutOptions carries the metadata stored with an object.
type PutOptions struct {
	// ContentType is the media type; empty means DefaultContentType.
	ContentType string
	// CacheControl is an optional HTTP Cache-Control value.
	CacheControl string
}

// PostPolicy is a presigned browser-style upload (an S3 POST policy),
// made by a driver that can sign one (s3blob): a multipart/form-data POST
// to URL with Fields, in any order, and then the content as the field
// "file", uploads without credentials under the limits it was signed with.
type PostPolicy struct {
	URL    string
	Fields map[string]string
}

// PostSigner is a Store that can sign POST policies (s3blob).
type PostSigner interface {
	Store
	// PresignPost returns a policy that uploads key for ttl, refused by
	// the store itself unless the file is 1..maxBytes bytes and its
	// Content-Type field is contentType.
	PresignPost(ctx context.Context, key, contentType string, maxBytes int64, ttl time.Duration) (PostPolicy, error)
}

// Store is an object store with S3-like semantics. Implementations are safe
// for concurrent use. See the package documentation for the full contract.
type Store interface {
	// Put streams r into key. It is atomic: readers see the old object or
	// the whole new one, never part of it. If r returns an error or ctx is
	// cancelled, nothing is left behind and any previous object is intact.
	// Put overwrites an existing object. The Attrs it returns carry the
	// hex SHA-256 of the content as ETag (a Get or Head of an object
	// stored otherwise, as through a presigned POST, may give another).
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Attrs, error)
	// Get opens the object for reading. The caller must close the reader.
	// A missing object yields an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, Attrs, error)
	// GetRange opens length bytes starting at offset; length < 0 means to
	// the end, and a range past the end is truncated. Attrs.Size is the
	// size of the whole object.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Attrs, error)
	// Head returns the object's attributes without its content.
	Head(ctx context.Context, key string) (Attrs, error)
	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases the store's resources.
	Close() error
}

// ContextReader returns a reader that fails with ctx's error once ctx is
// done, so a driver's Put stops reading a body when its caller gives up.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return &ctxReader{ctx: ctx, r: r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
