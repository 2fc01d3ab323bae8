// Package tenants keeps who may call imagepipe: API keys (stored hashed,
// never the key itself) and each tenant's settings (its webhook signing
// secrets). Drivers sit beside the status store and are opened with its URL:
// sqlitetenants (tables in the status database), dynamotenants (a DynamoDB
// table, TABLE-tenants). One conformance suite (tenantstest) runs against
// both.
package tenants

import (
	"context"
	"errors"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/registry"
)

// Sentinel errors every driver maps its own errors onto.
var (
	ErrNotFound      = errors.New("tenants: not found")
	ErrExists        = errors.New("tenants: already exists")
	ErrConflict      = errors.New("tenants: version conflict")
	ErrInvalidToken  = errors.New("tenants: invalid page token")
	ErrUnknownScheme = errors.New("tenants: unknown scheme")
)

// Key is an API key's stored form.
type Key struct {
	// ID is public: it names the key in listings and revocations, and the
	// key itself begins with it. 1..64 of [A-Za-z0-9_-].
	ID     string
	Tenant string
	// Name is a free-text label (at most 200 bytes).
	Name   string
	Scopes []string
	// Hash is the SHA-256 of the whole key.
	Hash       []byte
	CreateTime time.Time
	// LastUseTime is zero until the key is first used.
	LastUseTime time.Time
	// RevokeTime is zero while the key is active.
	RevokeTime time.Time
}

// Revoked reports whether the key has been revoked.
func (k Key) Revoked() bool { return !k.RevokeTime.IsZero() }

// KeyPage is one page of a key listing.
type KeyPage struct {
	Keys []Key
	// NextPageToken is opaque; empty on the last page.
	NextPageToken string
}

// Tenant is a tenant's settings, written by conditional updates.
type Tenant struct {
	Name string
	// WebhookSecrets sign the tenant's webhook deliveries, newest first;
	// at most two are valid at once (the current one and the one it
	// replaced), so receivers can rotate.
	WebhookSecrets []string
	UpdateTime     time.Time
	// Version is the version the tenant was read at; 0 for a new tenant.
	Version int64
}

// Store keeps API keys and tenant settings.
type Store interface {
	// CreateKey stores a new key; ErrExists when its id is taken.
	CreateKey(ctx context.Context, k Key) error
	// PutKey creates or replaces a key (the bootstrap admin key, whose
	// hash changes when the operator sets another).
	PutKey(ctx context.Context, k Key) error
	// GetKey returns the key or ErrNotFound.
	GetKey(ctx context.Context, id string) (Key, error)
	// ListKeys lists a tenant's keys ("" lists every tenant's), ordered by
	// tenant then id, pageSize (1..1000; 0 means 100) at a time.
	ListKeys(ctx context.Context, tenant string, pageSize int, pageToken string) (KeyPage, error)
	// RevokeKey marks the key revoked at t and returns it; revoking a
	// revoked key keeps the first revoke time. ErrNotFound if missing.
	RevokeKey(ctx context.Context, id string, t time.Time) (Key, error)
	// TouchKey records a use at t (LastUseTime only moves forward).
	// ErrNotFound if missing.
	TouchKey(ctx context.Context, id string, t time.Time) error
	// GetTenant returns the tenant's settings or ErrNotFound.
	GetTenant(ctx context.Context, name string) (Tenant, error)
	// PutTenant writes t if the stored tenant is still at t.Version (0: it
	// must not exist yet) and returns it at the next version; ErrConflict
	// otherwise.
	PutTenant(ctx context.Context, t Tenant) (Tenant, error)
	Close() error
}

// Opener opens a Store for a parsed URL whose scheme the driver registered.
type Opener = registry.Opener[Store]

var drivers = registry.New[Store]("tenants", ErrUnknownScheme)

// Register makes a driver available under a URL scheme (case-insensitive).
func Register(scheme string, o Opener) { drivers.Register(scheme, o) }

// Open opens the store named by rawURL with its registered driver.
func Open(ctx context.Context, rawURL string) (Store, error) { return drivers.Open(ctx, rawURL) }
