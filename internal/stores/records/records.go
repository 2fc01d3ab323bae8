// Package records is the status store: one record per image, written only
// by conditional (compare-and-swap) updates so that at-least-once delivery,
// redelivered messages and racing workers can never lose an update or move an
// image backwards. Drivers: sqliterecords (embedded default); a DynamoDB
// driver fits the same interface one to one (conditional writes on a version
// attribute, a GSI on batch_id, a second item per idempotency key).
package records

import (
	"context"
	"errors"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
)

// Sentinel errors every driver maps its own errors onto.
var (
	ErrNotFound     = errors.New("records: not found")
	ErrConflict     = errors.New("records: version conflict")
	ErrExists       = errors.New("records: already exists")
	ErrInvalidToken = errors.New("records: invalid page token")
	// ErrUnknownScheme reports that Open found no driver for a URL scheme.
	ErrUnknownScheme = errors.New("records: unknown scheme")
)

// Record is an image record and the version it was read at.
type Record struct {
	Image   *pb.Image
	Version int64
}

// Page is one page of a listing.
type Page struct {
	Records []*Record
	// NextPageToken is opaque; empty on the last page.
	NextPageToken string
}

// Store keeps image records.
type Store interface {
	// Create stores a new record at version 1. ErrExists when the id, or the
	// image's non-empty idempotency key, is already taken.
	Create(ctx context.Context, img *pb.Image) (*Record, error)
	// Get returns the record or ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// GetByIdempotencyKey returns the record created with key, or ErrNotFound.
	GetByIdempotencyKey(ctx context.Context, key string) (*Record, error)
	// Update replaces the record if it is still at rec.Version and returns it
	// at the next version; ErrConflict if it changed meanwhile, ErrNotFound if
	// it does not exist. Id, batch and idempotency key never change.
	Update(ctx context.Context, rec *Record) (*Record, error)
	// ListByBatch lists a batch's images in id order (ids are time-ordered),
	// pageSize at a time.
	ListByBatch(ctx context.Context, batchID string, pageSize int, pageToken string) (Page, error)
	Close() error
}
