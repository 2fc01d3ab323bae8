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

// DefaultTenant owns records written before tenants existed (no tenant).
const DefaultTenant = "default"

// Scoped returns the form under which drivers index a tenant's batch id or
// idempotency key, so two tenants' "holiday" are two batches: the default
// tenant's (and a record without tenant, from before tenants) as it is,
// another tenant's prefixed with its name and a unit separator, which
// neither ids nor keys may contain.
func Scoped(tenant, s string) string {
	if s == "" || tenant == "" || tenant == DefaultTenant {
		return s
	}
	return tenant + "\x1f" + s
}

// Tenant returns the tenant that owns img (DefaultTenant if it has none).
func Tenant(img *pb.Image) string {
	if t := img.GetTenant(); t != "" {
		return t
	}
	return DefaultTenant
}

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
	// image's non-empty idempotency key within its tenant, is already taken.
	Create(ctx context.Context, img *pb.Image) (*Record, error)
	// Get returns the record or ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// GetByIdempotencyKey returns the record tenant created with key, or
	// ErrNotFound.
	GetByIdempotencyKey(ctx context.Context, tenant, key string) (*Record, error)
	// Update replaces the record if it is still at rec.Version and returns it
	// at the next version; ErrConflict if it changed meanwhile, ErrNotFound if
	// it does not exist. Id, batch and idempotency key never change.
	Update(ctx context.Context, rec *Record) (*Record, error)
	// ListByBatch lists tenant's batch's images in id order (ids are
	// time-ordered), pageSize at a time.
	ListByBatch(ctx context.Context, tenant, batchID string, pageSize int, pageToken string) (Page, error)
	Close() error
}
