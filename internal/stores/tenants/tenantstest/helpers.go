package tenantstest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// base is the first time a subtest uses: to the microsecond, which is what
// drivers keep.
var base = time.Date(2026, 11, 21, 18, 15, 10, 123456000, time.UTC)

// NewKeyID returns a fresh key id: "k" and 32 hex digits.
func NewKeyID(t testing.TB) string {
	id, err := uuid.NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	return "k" + hex.EncodeToString(id[:])
}

// NewKey returns an active key of tenant with every other field set: a
// fresh id, two scopes, a 32-byte hash with bytes a text column would
// mangle (0x00, 0xff, invalid UTF-8), created at base.
func NewKey(t testing.TB, tenant string) tenants.Key {
	hash := make([]byte, 32)
	for i := range hash {
		hash[i] = byte(i * 37)
	}
	hash[0], hash[1], hash[31] = 0x00, 0xff, 0x80
	return tenants.Key{
		ID:         NewKeyID(t),
		Tenant:     tenant,
		Name:       "ci uploader — ünïcode",
		Scopes:     []string{"upload", "read"},
		Hash:       hash,
		CreateTime: base,
	}
}

// keyDiff describes how got differs from want, "" when they are the same:
// times by instant, lists nil or empty alike.
func keyDiff(got, want tenants.Key) string {
	var d []string
	diff := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		diff("ID", got.ID, want.ID)
	}
	if got.Tenant != want.Tenant {
		diff("Tenant", got.Tenant, want.Tenant)
	}
	if got.Name != want.Name {
		diff("Name", got.Name, want.Name)
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		diff("Scopes", got.Scopes, want.Scopes)
	}
	if !bytes.Equal(got.Hash, want.Hash) {
		diff("Hash", fmt.Sprintf("%x", got.Hash), fmt.Sprintf("%x", want.Hash))
	}
	for _, tm := range []struct {
		field     string
		got, want time.Time
	}{
		{"CreateTime", got.CreateTime, want.CreateTime},
		{"LastUseTime", got.LastUseTime, want.LastUseTime},
		{"RevokeTime", got.RevokeTime, want.RevokeTime},
	} {
		if !tm.got.Equal(tm.want) {
			diff(tm.field, tm.got, tm.want)
		}
		if !tm.got.IsZero() && tm.got.Location() != time.UTC {
			diff(tm.field+" location", tm.got.Location(), time.UTC)
		}
	}
	return strings.Join(d, "; ")
}

// tenantDiff is keyDiff for tenants.
func tenantDiff(got, want tenants.Tenant) string {
	var d []string
	diff := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.Name != want.Name {
		diff("Name", got.Name, want.Name)
	}
	if !slices.Equal(got.WebhookSecrets, want.WebhookSecrets) {
		diff("WebhookSecrets", got.WebhookSecrets, want.WebhookSecrets)
	}
	if !got.UpdateTime.Equal(want.UpdateTime) {
		diff("UpdateTime", got.UpdateTime, want.UpdateTime)
	}
	if !got.UpdateTime.IsZero() && got.UpdateTime.Location() != time.UTC {
		diff("UpdateTime location", got.UpdateTime.Location(), time.UTC)
	}
	if got.Version != want.Version {
		diff("Version", got.Version, want.Version)
	}
	return strings.Join(d, "; ")
}

// createKeys stores keys with CreateKey.
func createKeys(t *testing.T, s tenants.Store, keys ...tenants.Key) {
	t.Helper()
	for _, k := range keys {
		if err := s.CreateKey(t.Context(), k); err != nil {
			t.Fatalf("CreateKey %s: %v", k.ID, err)
		}
	}
}

// getKey returns the stored key, failing the test if there is none.
func getKey(t *testing.T, s tenants.Store, id string) tenants.Key {
	t.Helper()
	k, err := s.GetKey(t.Context(), id)
	if err != nil {
		t.Fatalf("GetKey %s: %v", id, err)
	}
	return k
}

// listAll follows a key listing to its end, checking every page's size,
// and returns the keys' ids.
func listAll(t *testing.T, s tenants.Store, tenant string, pageSize int) (ids []string, pages int) {
	t.Helper()
	token := ""
	for {
		page, err := s.ListKeys(t.Context(), tenant, pageSize, token)
		if err != nil {
			t.Fatalf("ListKeys(%q, %d, %q): %v", tenant, pageSize, token, err)
		}
		pages++
		if len(page.Keys) > pageSize {
			t.Fatalf("page of %d keys, asked for %d", len(page.Keys), pageSize)
		}
		for _, k := range page.Keys {
			ids = append(ids, k.ID)
		}
		if page.NextPageToken == "" {
			return ids, pages
		}
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		token = page.NextPageToken
	}
}
