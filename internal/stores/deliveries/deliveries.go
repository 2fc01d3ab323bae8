// Package deliveries is the webhook delivery log: one record per event sent
// to one endpoint, with every attempt, written only by conditional
// (compare-and-swap) updates like the image records. Drivers sit beside the
// status store and are opened with its URL: sqlitedeliveries (a table in the
// status database), dynamodeliveries (a second DynamoDB table, TABLE-webhooks).
package deliveries

import (
	"context"
	"errors"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/registry"
	"google.golang.org/protobuf/proto"
)

// Sentinel errors every driver maps its own errors onto.
var (
	ErrNotFound      = errors.New("deliveries: not found")
	ErrConflict      = errors.New("deliveries: version conflict")
	ErrExists        = errors.New("deliveries: already exists")
	ErrInvalidToken  = errors.New("deliveries: invalid page token")
	ErrUnknownScheme = errors.New("deliveries: unknown scheme")
)

// Record is a delivery and the version it was read at.
type Record struct {
	Delivery *pb.WebhookDelivery
	Version  int64
}

// DefaultTenant owns the deliveries stored without a tenant (written before
// tenants existed): a Filter for it matches them too. It is
// auth.DefaultTenant.
const DefaultTenant = "default"

// Filter narrows a listing; zero fields match everything.
type Filter struct {
	State   pb.WebhookDeliveryState
	ImageID string
	BatchID string
	// Tenant matches the delivery's tenant (WebhookDelivery.tenant);
	// DefaultTenant also matches deliveries without one.
	Tenant string
}

// Page is one page of a listing.
type Page struct {
	Records []*Record
	// NextPageToken is opaque; empty on the last page.
	NextPageToken string
}

// Store keeps delivery records.
type Store interface {
	// Create stores a new delivery at version 1; ErrExists when its id is
	// taken (ids are derived from event and URL, so a repeated event
	// creates nothing).
	Create(ctx context.Context, d *pb.WebhookDelivery) (*Record, error)
	// Get returns the record or ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// Update replaces the record if it is still at rec.Version and returns
	// it at the next version; ErrConflict if it changed meanwhile,
	// ErrNotFound if it does not exist.
	Update(ctx context.Context, rec *Record) (*Record, error)
	// List lists deliveries matching f, newest (create_time) first, up to
	// pageSize (1..1000; 0 means 100) at a time.
	List(ctx context.Context, f Filter, pageSize int, pageToken string) (Page, error)
	Close() error
}

// Opener opens a Store for a parsed URL whose scheme the driver registered.
type Opener = registry.Opener[Store]

var drivers = registry.New[Store]("deliveries", ErrUnknownScheme)

// Register makes a driver available under a URL scheme; drivers call it
// from init.
func Register(scheme string, o Opener) { drivers.Register(scheme, o) }

// Open opens the delivery log beside the status store that statusURL names.
func Open(ctx context.Context, statusURL string) (Store, error) { return drivers.Open(ctx, statusURL) }

// ErrNoChange, returned by a Mutate callback, ends Mutate without writing.
var ErrNoChange = errors.New("deliveries: no change")

// Mutate reads a delivery, lets fn change a copy, and writes it back
// conditionally, re-reading and calling fn again whenever another writer got
// there first (like records.Mutate). If fn returns an error (ErrNoChange
// among them), Mutate returns the current record and that error.
func Mutate(ctx context.Context, s Store, id string, fn func(d *pb.WebhookDelivery) error) (*Record, error) {
	for {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		next := proto.Clone(cur.Delivery).(*pb.WebhookDelivery)
		if err := fn(next); err != nil {
			return cur, err
		}
		rec, err := s.Update(ctx, &Record{Delivery: next, Version: cur.Version})
		if errors.Is(err, ErrConflict) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		return rec, err
	}
}
