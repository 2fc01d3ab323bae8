package webhooks

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// DefaultTenant is the operator's tenant: it owns records and deliveries
// without a tenant, and its secrets, when the tenant store holds none,
// are the configured ones (Config.Secrets). It is auth.DefaultTenant.
const DefaultTenant = "default"

// SecretsCacheTTL is how long Secrets keeps a tenant's secrets.
const SecretsCacheTTL = 5 * time.Second

// Errors about a tenant's secrets.
var (
	// ErrTenantNoSecret: the tenant has no webhook signing secret, so its
	// deliveries are not sent (never unsigned). It is the error a
	// delivery's attempt log shows.
	ErrTenantNoSecret = errors.New("tenant has no webhook secret")
	// ErrCallbackNeedsSecret is CheckCallback's answer for a tenant
	// without a secret; its text is meant for the client.
	ErrCallbackNeedsSecret = errors.New("set a webhook signing secret first (AdminService.RotateWebhookSecret / imagepipe webhooks rotate-secret)")
	// ErrSecretsUnavailable: the tenant store could not be read. Errors
	// that match it say only that (the store's error is wrapped, not
	// shown), so they are safe for clients too.
	ErrSecretsUnavailable = errors.New("webhook signing secrets are unavailable; try again")
)

// Secrets looks up the secrets that sign a tenant's webhook deliveries,
// newest first: the tenant's own (tenants.Tenant.WebhookSecrets, set by
// AdminService.RotateWebhookSecret) if it has any; for the default tenant
// (and "") without stored secrets, the configured ones; otherwise none.
//
// Secrets found are cached per tenant for SecretsCacheTTL, so a busy
// tenant costs one store read per few seconds, not one per delivery. The
// short cache is safe because a rotation keeps the previous secret valid
// beside the new one: a delivery signed with a cached set still verifies
// at a receiver that already switched. A tenant found without secrets is
// not cached, so a secret just set works at once (the first callback
// accepted after it is not refused, its first delivery not failed). Safe
// for concurrent use.
type Secrets struct {
	store    tenants.Store
	fallback []string
	ttl      time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]cachedSecrets
}

type cachedSecrets struct {
	secrets []string
	expires time.Time
}

// maxCached bounds the cache; past it, expired entries are swept.
const maxCached = 1024

// NewSecrets returns the secrets of store's tenants; fallback (the
// configured Config.Secrets) are the default tenant's while the store
// holds none for it. A nil store gives every tenant but the default one
// no secrets.
func NewSecrets(store tenants.Store, fallback []string) *Secrets {
	return &Secrets{store: store, fallback: slices.Clone(fallback), ttl: SecretsCacheTTL, now: time.Now, cache: map[string]cachedSecrets{}}
}

// For returns the secrets that sign tenant's deliveries, newest first;
// none (and nil error) when it has none. An error wraps
// ErrSecretsUnavailable: the tenant store could not be read.
func (s *Secrets) For(ctx context.Context, tenant string) ([]string, error) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[tenant]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.secrets, nil
	}
	secrets, err := s.lookup(ctx, tenant)
	if err != nil || len(secrets) == 0 {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCached {
		for t, c := range s.cache {
			if !now.Before(c.expires) {
				delete(s.cache, t)
			}
		}
	}
	s.cache[tenant] = cachedSecrets{secrets: secrets, expires: now.Add(s.ttl)}
	return secrets, nil
}

// lookup reads tenant's secrets from the store, falling back to the
// configured ones for the default tenant.
func (s *Secrets) lookup(ctx context.Context, tenant string) ([]string, error) {
	if s.store != nil {
		t, err := s.store.GetTenant(ctx, tenant)
		switch {
		case err == nil && len(t.WebhookSecrets) > 0:
			return slices.Clone(t.WebhookSecrets), nil
		case err != nil && !errors.Is(err, tenants.ErrNotFound):
			return nil, &unavailableError{err: err}
		}
	}
	if tenant == DefaultTenant {
		return s.fallback, nil
	}
	return nil, nil
}

// Forget drops tenant's cached secrets, for a process that has just
// changed them (other processes see the change within SecretsCacheTTL).
func (s *Secrets) Forget(tenant string) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	s.mu.Lock()
	delete(s.cache, tenant)
	s.mu.Unlock()
}

// CheckCallback reports whether tenant may give a callback URL: only if
// it has a secret to sign the deliveries with. The error is
// ErrCallbackNeedsSecret, or one matching ErrSecretsUnavailable; either's
// text is safe to show the client. It does not check the URL itself
// (Guard.CheckURL does).
func (s *Secrets) CheckCallback(ctx context.Context, tenant string) error {
	secrets, err := s.For(ctx, tenant)
	switch {
	case err != nil:
		return err
	case len(secrets) == 0:
		return ErrCallbackNeedsSecret
	}
	return nil
}

// unavailableError hides a store error behind ErrSecretsUnavailable's
// text; errors.Is and errors.As still reach it.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return ErrSecretsUnavailable.Error() }

func (e *unavailableError) Unwrap() []error { return []error{ErrSecretsUnavailable, e.err} }
