package webhooks_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"github.com/imagepipe/imagepipe/internal/stores/tenants/sqlitetenants"
	"github.com/imagepipe/imagepipe/services/webhooks"
)

// countingTenants counts GetTenant calls and fails them while down is set.
type countingTenants struct {
	tenants.Store
	gets atomic.Int32
	down atomic.Bool
}

var errDown = errors.New("sqlite: disk I/O error at /var/secret/path")

func (c *countingTenants) GetTenant(ctx context.Context, name string) (tenants.Tenant, error) {
	c.gets.Add(1)
	if c.down.Load() {
		return tenants.Tenant{}, errDown
	}
	return c.Store.GetTenant(ctx, name)
}

func newTenants(t *testing.T) *countingTenants {
	t.Helper()
	s, err := sqlitetenants.New(filepath.Join(t.TempDir(), "status.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &countingTenants{Store: s}
}

func putSecrets(t *testing.T, s tenants.Store, tenant string, secrets ...string) {
	t.Helper()
	cur, err := s.GetTenant(context.Background(), tenant)
	if err != nil && !errors.Is(err, tenants.ErrNotFound) {
		t.Fatal(err)
	}
	cur.Name, cur.WebhookSecrets = tenant, secrets
	if _, err := s.PutTenant(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsFor(t *testing.T) {
	var (
		acme1, acme2 = secret('a', 32), secret('b', 32)
		stored       = secret('d', 32)
		configured   = []string{newSecret, oldSecret}
	)
	tests := []struct {
		name   string
		setup  func(t *testing.T, s tenants.Store)
		tenant string
		want   []string
	}{
		{"a tenant's own, newest first", func(t *testing.T, s tenants.Store) { putSecrets(t, s, "acme", acme2, acme1) }, "acme", []string{acme2, acme1}},
		{"a tenant without any", nil, "acme", nil},
		{"a tenant stored without secrets", func(t *testing.T, s tenants.Store) { putSecrets(t, s, "acme") }, "acme", nil},
		{"the default tenant: configured", nil, "default", configured},
		{"no tenant is the default", nil, "", configured},
		{"the default tenant stored without secrets: configured", func(t *testing.T, s tenants.Store) { putSecrets(t, s, "default") }, "default", configured},
		{"the default tenant's stored ones win", func(t *testing.T, s tenants.Store) { putSecrets(t, s, "default", stored) }, "", []string{stored}},
		{"another tenant never gets the configured ones", func(t *testing.T, s tenants.Store) { putSecrets(t, s, "default", stored) }, "acme", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTenants(t)
			if tt.setup != nil {
				tt.setup(t, ts)
			}
			got, err := webhooks.NewSecrets(ts, configured).For(context.Background(), tt.tenant)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("For(%q) = %d secrets, %v; want %d", tt.tenant, len(got), err, len(tt.want))
			}
		})
	}
	t.Run("no store", func(t *testing.T) {
		s := webhooks.NewSecrets(nil, configured)
		if got, err := s.For(context.Background(), "default"); err != nil || !slices.Equal(got, configured) {
			t.Errorf("default: %d secrets, %v; want the configured ones", len(got), err)
		}
		if got, err := s.For(context.Background(), "acme"); err != nil || got != nil {
			t.Errorf("acme: %d secrets, %v; want none", len(got), err)
		}
	})
}

// Secrets found are cached for SecretsCacheTTL; a tenant without secrets
// is looked up every time, so a secret just set counts at once.
func TestSecretsCache(t *testing.T) {
	ctx := context.Background()
	ts := newTenants(t)
	s := webhooks.NewSecrets(ts, nil)
	now := time.Now()
	webhooks.SetClock(s, func() time.Time { return now })
	a1, a2 := secret('a', 32), secret('b', 32)

	if err := s.CheckCallback(ctx, "acme"); !errors.Is(err, webhooks.ErrCallbackNeedsSecret) {
		t.Fatalf("CheckCallback without a secret = %v, want ErrCallbackNeedsSecret", err)
	}
	putSecrets(t, ts, "acme", a1)
	if err := s.CheckCallback(ctx, "acme"); err != nil {
		t.Fatalf("CheckCallback right after a secret was set = %v, want nil", err)
	}
	putSecrets(t, ts, "acme", a2, a1) // a rotation
	gets := ts.gets.Load()
	now = now.Add(webhooks.SecretsCacheTTL - time.Millisecond)
	if got, _ := s.For(ctx, "acme"); !slices.Equal(got, []string{a1}) || ts.gets.Load() != gets {
		t.Fatalf("within the TTL: %d secrets after %d reads; want the cached one, no read", len(got), ts.gets.Load()-gets)
	}
	now = now.Add(time.Millisecond)
	if got, _ := s.For(ctx, "acme"); !slices.Equal(got, []string{a2, a1}) {
		t.Fatalf("after the TTL: %d secrets, want the rotated two", len(got))
	}
	putSecrets(t, ts, "acme", a2)
	s.Forget("acme")
	if got, _ := s.For(ctx, "acme"); !slices.Equal(got, []string{a2}) {
		t.Fatalf("after Forget: %d secrets, want the stored one", len(got))
	}
}

// A store failure is not "no secret": it matches ErrSecretsUnavailable,
// says nothing of the store, and is not cached.
func TestSecretsStoreDown(t *testing.T) {
	ctx := context.Background()
	ts := newTenants(t)
	putSecrets(t, ts, "acme", secret('a', 32))
	s := webhooks.NewSecrets(ts, []string{newSecret})
	ts.down.Store(true)
	for _, tenant := range []string{"acme", "default"} {
		got, err := s.For(ctx, tenant)
		if !errors.Is(err, webhooks.ErrSecretsUnavailable) || !errors.Is(err, errDown) || got != nil {
			t.Fatalf("For(%s) with the store down = %d secrets, %v; want ErrSecretsUnavailable wrapping the store's error", tenant, len(got), err)
		}
		err = s.CheckCallback(ctx, tenant)
		if !errors.Is(err, webhooks.ErrSecretsUnavailable) || strings.Contains(err.Error(), "sqlite") {
			t.Fatalf("CheckCallback with the store down = %q: want ErrSecretsUnavailable's text only", err)
		}
	}
	ts.down.Store(false)
	if err := s.CheckCallback(ctx, "acme"); err != nil {
		t.Fatalf("CheckCallback once the store is back = %v", err)
	}
}

func TestCheckCallbackMessage(t *testing.T) {
	err := webhooks.NewSecrets(newTenants(t), nil).CheckCallback(context.Background(), "acme")
	const want = "set a webhook signing secret first (AdminService.RotateWebhookSecret / imagepipe webhooks rotate-secret)"
	if err == nil || err.Error() != want {
		t.Fatalf("CheckCallback = %v, want %q", err, want)
	}
}

func TestConfigEnabled(t *testing.T) {
	cfg := webhooks.DefaultConfig()
	if cfg.Enabled() {
		t.Error("default config: Enabled")
	}
	cfg.Secrets = []string{newSecret}
	if !cfg.Enabled() {
		t.Error("with secrets: not Enabled")
	}
	cfg.Secrets, cfg.URLs = nil, []string{"https://example.com/hook"}
	if !cfg.Enabled() || cfg.Validate() == nil {
		t.Error("URLs without secrets: want Enabled, and refused by Validate")
	}
}
