package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// Authenticator establishes who presents a bearer token. A bad token is
// UNAUTHENTICATED (an *apperr.Error saying nothing of why); a failure to
// check it (the key store is down) is another apperr code, UNAVAILABLE.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// How often a key's last use is recorded, and how long recording may take.
const (
	TouchInterval = time.Minute
	touchTimeout  = time.Second
)

// Keys authenticates API keys against the key store. It reads the key on
// every call (no cache): a revoked key is refused at once, in every
// process. Last use is recorded at most once per TouchInterval per key per
// process.
type Keys struct {
	store tenants.Store
	log   *slog.Logger
	// Now is the clock (time.Now); set it before first use.
	Now func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time // key id → last TouchKey attempt
}

var _ Authenticator = (*Keys)(nil)

// NewKeys returns an authenticator of the keys in store; log (nil: none)
// hears of refusals (at debug level) and of failures to record use.
func NewKeys(store tenants.Store, log *slog.Logger) *Keys {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Keys{store: store, log: log, Now: time.Now, touched: map[string]time.Time{}}
}

// badCredentials is every refusal of a key: it does not say whether the
// id exists, the secret is wrong or the key was revoked.
func badCredentials() error { return Unauthenticated("invalid or revoked credentials") }

// Authenticate implements Authenticator.
func (a *Keys) Authenticate(ctx context.Context, token string) (Principal, error) {
	sum := sha256.Sum256([]byte(token))
	id := KeyID(token)
	if id == "" {
		a.log.DebugContext(ctx, "API key refused", "reason", "malformed")
		return Principal{}, badCredentials()
	}
	k, err := a.store.GetKey(ctx, id)
	switch {
	case errors.Is(err, tenants.ErrNotFound):
		// Compare anyway so an unknown id costs what a known one does.
		subtle.ConstantTimeCompare(sum[:], make([]byte, sha256.Size))
		a.log.DebugContext(ctx, "API key refused", "key", id, "reason", "unknown id")
		return Principal{}, badCredentials()
	case err != nil && ctx.Err() != nil:
		return Principal{}, ctx.Err()
	case err != nil:
		return Principal{}, apperr.Unavailable(fmt.Errorf("auth: read API key %q: %w", id, err))
	}
	if subtle.ConstantTimeCompare(sum[:], k.Hash) != 1 {
		a.log.DebugContext(ctx, "API key refused", "key", id, "reason", "wrong secret")
		return Principal{}, badCredentials()
	}
	if k.Revoked() {
		a.log.InfoContext(ctx, "revoked API key refused", "key", id, "tenant", k.Tenant, "revoked", k.RevokeTime)
		return Principal{}, badCredentials()
	}
	if !ValidTenant(k.Tenant) {
		a.log.WarnContext(ctx, "API key refused: stored tenant is not a tenant name", "key", id, "tenant", k.Tenant)
		return Principal{}, badCredentials()
	}
	a.touch(ctx, id)
	return Principal{Tenant: k.Tenant, Scopes: KnownScopes(k.Scopes), KeyID: k.ID}, nil
}

// touch records a use of key id unless this process did so within
// TouchInterval. It runs inline, bounded by touchTimeout and detached from
// the caller's cancellation; a failure is logged, never returned (the
// caller is authenticated whether or not the record is written).
func (a *Keys) touch(ctx context.Context, id string) {
	now := a.Now()
	a.mu.Lock()
	last, ok := a.touched[id]
	due := !ok || now.Sub(last) >= TouchInterval || now.Before(last)
	if due {
		a.touched[id] = now // claimed: concurrent calls do not touch again
	}
	a.mu.Unlock()
	if !due {
		return
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), touchTimeout)
	defer cancel()
	if err := a.store.TouchKey(tctx, id, now); err != nil {
		a.log.WarnContext(ctx, "could not record API key use", "key", id, "err", err)
	}
}
