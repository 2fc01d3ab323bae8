// Package records is the status store: one record per image, written only
// by conditional (compare-and-swap) updates so that at-least-once delivery,
// redelivered messages and racing workers can never lose an update or move an
// image backwards. Drivers: sqliterecords (embedded default); a DynamoDB
// driver fits the same interface one to one (conditional writes on a version
// attribute, GSIs on batch_id and tenant, a second item per idempotency
// key). ListImages lists a tenant's images newest first (see ListQuery).
//
// # Batches
//
// A batch is the images created with one batch id. Its summary is never
// derived by reading the batch: the store keeps a counter per batch
// (BatchCounter: images, count per state, expected size, a sequence number
// of the batch's writes and the last state change) that every Create and
// Update of one of its images updates in the same transaction as the image,
// so every writer (ingest, processor, admin retry, delete) keeps it right
// without knowing of it, and a conditional Update that loses (ErrConflict)
// counts nothing. Reading a batch's state is one read (GetBatch); what
// changed since a sequence number is BatchChanges, whose reads grow with the
// changes, not with the batch. SummarizeBatch and EachInBatch still read a
// whole batch, for what needs every image (its callback URLs, a retry or a
// deletion of the whole batch).
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
	// ListImages lists q.Tenant's images newest first (ids are
	// time-ordered), of q.BatchID and in q.State when set (see ListQuery),
	// q.Size() at most a page. A call examines at most MaxListExamined
	// records: a filter that leaves many out makes a short page, even an
	// empty one, with a NextPageToken to continue; the listing ends only
	// when NextPageToken is "". A token of another tenant or query is
	// ErrInvalidToken.
	ListImages(ctx context.Context, q ListQuery) (Page, error)
	// GetBatch returns tenant's batch's counter (see BatchCounter), which
	// Create and Update keep with every write of one of the batch's images,
	// atomically with it; ErrNotFound when no image of the batch was ever
	// created. One read, whatever the batch's size.
	GetBatch(ctx context.Context, tenant, batchID string) (*BatchCounter, error)
	// BatchChanges returns the images of tenant's batch written at the
	// counter's sequence numbers after+1 through upTo, each once and as it
	// is now, in the order of their last write in that range. A range
	// wider than MaxBatchChanges is cut to its first MaxBatchChanges
	// numbers. Reads grow with the writes in the range, not with the batch.
	// An image written again after upTo may be left out (its later number
	// names it) or returned at its later version.
	BatchChanges(ctx context.Context, tenant, batchID string, after, upTo int64) ([]*Record, error)
	Close() error
}
