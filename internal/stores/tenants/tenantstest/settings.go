package tenantstest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

func testTenantNotFound(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	for _, name := range []string{"acme", ""} {
		if _, err := s.GetTenant(ctx, name); !errors.Is(err, tenants.ErrNotFound) {
			t.Errorf("GetTenant(%q) = %v, want ErrNotFound", name, err)
		}
	}
	// A key's tenant has no settings until they are put.
	createKeys(t, s, NewKey(t, "acme"))
	if _, err := s.GetTenant(ctx, "acme"); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("GetTenant of a tenant with keys only = %v, want ErrNotFound", err)
	}
}

func testPutTenantCreates(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	in := tenants.Tenant{Name: "acme", WebhookSecrets: []string{"whsec_new", "whsec_old"}, UpdateTime: base}
	got, err := s.PutTenant(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Version = 1
	if d := tenantDiff(got, want); d != "" {
		t.Errorf("PutTenant of a new tenant returned: %s", d)
	}
	read, err := s.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if d := tenantDiff(read, want); d != "" {
		t.Errorf("GetTenant of a new tenant: %s", d)
	}
	if _, err := s.GetTenant(ctx, "acme-eu"); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("GetTenant of another tenant = %v, want ErrNotFound", err)
	}
}

func testPutTenantConditionalUpdate(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	v1, err := s.PutTenant(ctx, tenants.Tenant{Name: "acme", WebhookSecrets: []string{"s1"}, UpdateTime: base})
	if err != nil {
		t.Fatal(err)
	}
	upd := v1
	upd.WebhookSecrets = []string{"s2", "s1"}
	upd.UpdateTime = base.Add(time.Minute)
	v2, err := s.PutTenant(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	want := upd
	want.Version = 2
	if d := tenantDiff(v2, want); d != "" {
		t.Errorf("PutTenant at v1 returned: %s", d)
	}
	for _, tc := range []struct {
		what    string
		version int64
	}{{"stale", 1}, {"create of an existing tenant", 0}, {"ahead", 3}, {"negative", -1}} {
		stale := v1
		stale.WebhookSecrets = []string{"lost"}
		stale.Version = tc.version
		if _, err := s.PutTenant(ctx, stale); !errors.Is(err, tenants.ErrConflict) {
			t.Errorf("%s PutTenant (version %d) = %v, want ErrConflict", tc.what, tc.version, err)
		}
	}
	got, err := s.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if d := tenantDiff(got, want); d != "" {
		t.Errorf("after rejected PutTenants: %s", d)
	}
	if v3, err := s.PutTenant(ctx, got); err != nil || v3.Version != 3 {
		t.Errorf("PutTenant at v2 = v%d, %v; want v3", v3.Version, err)
	}
	// An update of a tenant that does not exist creates nothing.
	ghost := tenants.Tenant{Name: "globex", WebhookSecrets: []string{"s"}, Version: 1}
	if _, err := s.PutTenant(ctx, ghost); !errors.Is(err, tenants.ErrConflict) {
		t.Errorf("PutTenant at v1 of a missing tenant = %v, want ErrConflict", err)
	}
	if _, err := s.GetTenant(ctx, "globex"); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("PutTenant at v1 of a missing tenant created it: GetTenant = %v", err)
	}
	if _, err := s.PutTenant(ctx, tenants.Tenant{WebhookSecrets: []string{"s"}}); err == nil {
		t.Error("PutTenant without a name succeeded, want an error")
	}
}

func testPutTenantConcurrentUpdatesLoseNothing(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.PutTenant(ctx, tenants.Tenant{Name: "acme", UpdateTime: base}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			for range 100 {
				cur, err := s.GetTenant(ctx, "acme")
				if err != nil {
					errs <- err
					return
				}
				cur.WebhookSecrets = append(cur.WebhookSecrets, fmt.Sprint("s", i))
				_, err = s.PutTenant(ctx, cur)
				if err == nil {
					return
				}
				if !errors.Is(err, tenants.ErrConflict) {
					errs <- err
					return
				}
			}
			errs <- errors.New("no update won in 100 tries")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	secrets := slices.Sorted(slices.Values(got.WebhookSecrets))
	want := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"}
	if got.Version != n+1 || !slices.Equal(secrets, want) {
		t.Errorf("after %d racing updates: v%d with secrets %v; want v%d with %v", n, got.Version, got.WebhookSecrets, n+1, want)
	}
}

// Secrets come back in order, none as none; a zero UpdateTime becomes the
// time of the write, others are kept to the microsecond.
func testTenantSecretsAndTimes(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	before := time.Now().Truncate(time.Microsecond)
	got, err := s.PutTenant(ctx, tenants.Tenant{Name: "acme"})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.WebhookSecrets) != 0 || got.UpdateTime.Before(before) || got.UpdateTime.After(after) {
		t.Errorf("PutTenant without secrets or time returned secrets %q, time %v; want none, in [%v, %v]",
			got.WebhookSecrets, got.UpdateTime, before, after)
	}
	read, err := s.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if d := tenantDiff(read, got); d != "" {
		t.Errorf("GetTenant after PutTenant with a zero time: %s", d)
	}
	upd := read
	upd.WebhookSecrets = []string{"whsec_ü+/=", "whsec_" + strings.Repeat("Zm9v", 64), "whsec_a"}
	upd.UpdateTime = base.Add(999 * time.Nanosecond).In(time.FixedZone("X", -7*3600))
	got, err = s.PutTenant(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	want := upd
	want.UpdateTime, want.Version = base, read.Version+1
	if d := tenantDiff(got, want); d != "" {
		t.Errorf("PutTenant returned: %s", d)
	}
	if read, err = s.GetTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if d := tenantDiff(read, want); d != "" {
		t.Errorf("GetTenant: %s", d)
	}
	// Secrets removed: none come back.
	cleared := read
	cleared.WebhookSecrets = nil
	if _, err := s.PutTenant(ctx, cleared); err != nil {
		t.Fatal(err)
	}
	if read, err = s.GetTenant(ctx, "acme"); err != nil || len(read.WebhookSecrets) != 0 {
		t.Errorf("GetTenant after the secrets were removed = %q, %v; want none", read.WebhookSecrets, err)
	}
}

// A key and a tenant of the same name are two things.
func testKeysAndTenantsApart(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	k := NewKey(t, "acme")
	k.ID = "acme"
	createKeys(t, s, k)
	if _, err := s.GetTenant(ctx, "acme"); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("GetTenant of a key's id = %v, want ErrNotFound", err)
	}
	if _, err := s.PutTenant(ctx, tenants.Tenant{Name: "acme", UpdateTime: base}); err != nil {
		t.Fatalf("PutTenant named as a key: %v", err)
	}
	if d := keyDiff(getKey(t, s, "acme"), k); d != "" {
		t.Errorf("the key after a tenant of its name was put: %s", d)
	}
	if ids, _ := listAll(t, s, "", 10); !slices.Equal(ids, []string{"acme"}) {
		t.Errorf("ListKeys lists %v, want the key alone", ids)
	}
}
