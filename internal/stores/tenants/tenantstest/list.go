package tenantstest

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// Tenants whose names are prefixes of each other, so that a listing by
// prefix, or by tenant and id run together, shows.
var nearTenants = []string{"acme", "acme-eu", "ac", "acmf", "acme_x"}

func testListKeysOfATenantInPages(t *testing.T, newStore NewStore) {
	s := newStore(t)
	const n = 25
	var want []string // ids of acme's keys, in order
	var keys []tenants.Key
	for i := range n {
		k := NewKey(t, "acme")
		k.ID = fmt.Sprintf("k%02d-%s", i, k.ID[1:9])
		keys = append(keys, k)
		want = append(want, k.ID)
		for _, other := range nearTenants[1:] { // and a key of each other tenant
			o := NewKey(t, other)
			o.ID = fmt.Sprintf("k%02d-%s", i, o.ID[1:9])
			keys = append(keys, o)
		}
	}
	rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	createKeys(t, s, keys...) // out of order: the listing follows the ids
	for _, tc := range []struct{ size, pages int }{{10, 3}, {1, 25}, {25, 1}, {24, 2}, {1000, 1}} {
		got, pages := listAll(t, s, "acme", tc.size)
		if !slices.Equal(got, want) {
			t.Errorf("page size %d: listed\n%v\nwant (by id)\n%v", tc.size, got, want)
		}
		if pages != tc.pages {
			t.Errorf("page size %d: %d pages, want %d", tc.size, pages, tc.pages)
		}
	}
	page, err := s.ListKeys(t.Context(), "acme", 3, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range page.Keys {
		if d := keyDiff(k, getKey(t, s, k.ID)); d != "" {
			t.Errorf("key %s as listed: %s", k.ID, d)
		}
	}
}

func testListKeysOfAllTenantsInPages(t *testing.T, newStore NewStore) {
	s := newStore(t)
	var keys []tenants.Key
	for i := range 30 {
		k := NewKey(t, nearTenants[i%len(nearTenants)])
		if i%3 == 0 {
			k.ID = "a" + k.ID // ids that sort before others of the tenant
		}
		keys = append(keys, k)
	}
	createKeys(t, s, keys...)
	slices.SortFunc(keys, func(a, b tenants.Key) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ID, b.ID))
	})
	var want []string // by tenant, then id
	for _, k := range keys {
		want = append(want, k.ID)
	}
	for _, tc := range []struct{ size, pages int }{{7, 5}, {1, 30}, {30, 1}, {29, 2}, {1000, 1}} {
		got, pages := listAll(t, s, "", tc.size)
		if !slices.Equal(got, want) {
			t.Errorf("page size %d: listed\n%v\nwant (by tenant, then id)\n%v", tc.size, got, want)
		}
		if pages != tc.pages {
			t.Errorf("page size %d: %d pages, want %d", tc.size, pages, tc.pages)
		}
	}
}

func testListKeysDefaultPageSize(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	for range 101 {
		createKeys(t, s, NewKey(t, "acme"))
	}
	for _, tenant := range []string{"acme", ""} {
		first, err := s.ListKeys(ctx, tenant, 0, "")
		if err != nil || len(first.Keys) != 100 || first.NextPageToken == "" {
			t.Fatalf("ListKeys(%q) with page size 0: %d keys, token %q, %v; want 100 and a token", tenant, len(first.Keys), first.NextPageToken, err)
		}
		last, err := s.ListKeys(ctx, tenant, 0, first.NextPageToken)
		if err != nil || len(last.Keys) != 1 || last.NextPageToken != "" {
			t.Fatalf("ListKeys(%q) second page: %d keys, token %q, %v; want 1 and no token", tenant, len(last.Keys), last.NextPageToken, err)
		}
	}
}

func testListKeysEmpty(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	// A tenant's settings are not keys.
	if _, err := s.PutTenant(ctx, tenants.Tenant{Name: "acme", WebhookSecrets: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"", "acme"} {
		page, err := s.ListKeys(ctx, tenant, 10, "")
		if err != nil || len(page.Keys) != 0 || page.NextPageToken != "" {
			t.Errorf("ListKeys(%q) without keys: %d keys, token %q, %v", tenant, len(page.Keys), page.NextPageToken, err)
		}
	}
}

func testListKeysRejectsBadArguments(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	for range 3 {
		createKeys(t, s, NewKey(t, "acme"), NewKey(t, "globex"))
	}
	for _, size := range []int{1001, -1} {
		if _, err := s.ListKeys(ctx, "acme", size, ""); err == nil {
			t.Errorf("ListKeys with page size %d succeeded, want an error", size)
		}
	}
	for _, tenant := range []string{"", "acme"} {
		for _, tok := range []string{"not a token!", "e30", "AAAA", "djE6", "eyJ2IjoxfQ"} {
			if _, err := s.ListKeys(ctx, tenant, 2, tok); !errors.Is(err, tenants.ErrInvalidToken) {
				t.Errorf("ListKeys(%q) with token %q = %v, want ErrInvalidToken", tenant, tok, err)
			}
		}
	}
	// A token continues the listing it came from, not another one.
	all := []string{"", "acme", "globex"}
	for _, from := range all {
		page, err := s.ListKeys(ctx, from, 2, "")
		if err != nil || page.NextPageToken == "" {
			t.Fatalf("first page of %q: token %q, %v; want a token", from, page.NextPageToken, err)
		}
		for _, to := range all {
			_, err := s.ListKeys(ctx, to, 2, page.NextPageToken)
			if to == from && err != nil {
				t.Errorf("token of %q used with its own tenant: %v", from, err)
			}
			if to != from && !errors.Is(err, tenants.ErrInvalidToken) {
				t.Errorf("token of %q used with %q = %v, want ErrInvalidToken", from, to, err)
			}
		}
		if _, err := s.ListKeys(ctx, from, 2, page.NextPageToken+"x"); !errors.Is(err, tenants.ErrInvalidToken) {
			t.Errorf("token with a byte appended = %v, want ErrInvalidToken", err)
		}
	}
}

// Listings show keys as they are now: revoked, used, replaced.
func testListKeysSeesChanges(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	a, b := NewKey(t, "acme"), NewKey(t, "acme")
	createKeys(t, s, a, b)
	if _, err := s.RevokeKey(ctx, a.ID, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchKey(ctx, b.ID, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c := b
	c.ID = NewKeyID(t)
	c.Name = "replaced"
	if err := s.PutKey(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Name = "replaced again"
	if err := s.PutKey(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", ""} {
		page, err := s.ListKeys(ctx, tenant, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Keys) != 3 {
			t.Fatalf("ListKeys(%q) = %d keys, want 3", tenant, len(page.Keys))
		}
		for _, k := range page.Keys {
			if d := keyDiff(k, getKey(t, s, k.ID)); d != "" {
				t.Errorf("ListKeys(%q) lists key %s as: %s", tenant, k.ID, d)
			}
			if k.ID == a.ID && !k.Revoked() {
				t.Errorf("ListKeys(%q) lists the revoked key as active", tenant)
			}
		}
	}
}
