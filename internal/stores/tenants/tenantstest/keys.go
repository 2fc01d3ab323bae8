package tenantstest

import (
	"errors"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

func testKeyRoundTrip(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	active := NewKey(t, "acme")
	used := NewKey(t, "acme")
	used.LastUseTime = base.Add(time.Hour)
	used.RevokeTime = base.Add(2 * time.Hour)
	used.Scopes = []string{"admin"}
	bare := tenants.Key{ID: NewKeyID(t), Tenant: "globex"} // no name, scopes, hash or times
	createKeys(t, s, active, used, bare)
	for _, want := range []tenants.Key{active, used, bare} {
		if d := keyDiff(getKey(t, s, want.ID), want); d != "" {
			t.Errorf("GetKey %s: %s", want.ID, d)
		}
	}
	if got := getKey(t, s, active.ID); got.Revoked() || !got.LastUseTime.IsZero() {
		t.Errorf("a new key reads as revoked %v, last used %v; want active, never used", got.Revoked(), got.LastUseTime)
	}
	if !getKey(t, s, used.ID).Revoked() {
		t.Error("a key stored with a revoke time reads as active")
	}
	// The store keeps its own copy: changing the caller's slices changes
	// nothing stored.
	active.Hash[5]++
	active.Scopes[0] = "admin"
	if got := getKey(t, s, active.ID); got.Hash[5] == active.Hash[5] || got.Scopes[0] == "admin" {
		t.Error("the stored key changed with the caller's slices")
	}
	if _, err := s.GetKey(ctx, NewKeyID(t)); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("GetKey of another id = %v, want ErrNotFound", err)
	}
}

// Times come back to the microsecond, in UTC, whatever their location.
func testKeyTimesToTheMicrosecond(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	paris := time.FixedZone("CET", 3600)
	k := NewKey(t, "acme")
	k.CreateTime = base.Add(789 * time.Nanosecond).In(paris)
	k.LastUseTime = time.Date(1999, 12, 31, 23, 59, 59, 999999999, paris)
	k.RevokeTime = time.Date(2100, 1, 1, 0, 0, 0, 1000, time.UTC)
	createKeys(t, s, k)
	want := k
	want.CreateTime = base
	want.LastUseTime = k.LastUseTime.Truncate(time.Microsecond)
	if d := keyDiff(getKey(t, s, k.ID), want); d != "" {
		t.Errorf("GetKey: %s", d)
	}
	touched := time.Now()
	if err := s.TouchKey(ctx, k.ID, touched); err != nil {
		t.Fatal(err)
	}
	want.LastUseTime = touched.Truncate(time.Microsecond)
	if d := keyDiff(getKey(t, s, k.ID), want); d != "" {
		t.Errorf("GetKey after TouchKey: %s", d)
	}
}

func testCreateKeyTwice(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	k := NewKey(t, "acme")
	createKeys(t, s, k)
	other := NewKey(t, "globex")
	other.ID = k.ID
	other.Hash = []byte("another hash")
	if err := s.CreateKey(ctx, other); !errors.Is(err, tenants.ErrExists) {
		t.Fatalf("second CreateKey = %v, want ErrExists", err)
	}
	if d := keyDiff(getKey(t, s, k.ID), k); d != "" {
		t.Errorf("after a duplicate CreateKey: %s", d)
	}
	if ids, _ := listAll(t, s, "globex", 10); len(ids) != 0 {
		t.Errorf("a duplicate CreateKey listed %v for its tenant", ids)
	}
}

func testPutKeyCreatesAndReplaces(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	k := NewKey(t, "default")
	k.Name = "bootstrap admin"
	k.Scopes = []string{"admin"}
	if err := s.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if d := keyDiff(getKey(t, s, k.ID), k); d != "" {
		t.Errorf("after PutKey of a new key: %s", d)
	}
	if err := s.TouchKey(ctx, k.ID, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The operator sets another admin key: everything is replaced, the
	// last use and revocation too.
	next := k
	next.Hash = []byte{1, 2, 3}
	next.CreateTime = base.Add(time.Hour)
	if err := s.PutKey(ctx, next); err != nil {
		t.Fatal(err)
	}
	if d := keyDiff(getKey(t, s, k.ID), next); d != "" {
		t.Errorf("after PutKey over a used key: %s", d)
	}
	if err := s.CreateKey(ctx, next); !errors.Is(err, tenants.ErrExists) {
		t.Errorf("CreateKey of a put key = %v, want ErrExists", err)
	}
	// Replaced into another tenant, it moves in the listings.
	moved := next
	moved.Tenant = "acme"
	if err := s.PutKey(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if ids, _ := listAll(t, s, "default", 10); len(ids) != 0 {
		t.Errorf("the old tenant lists %v after the key moved", ids)
	}
	if ids, _ := listAll(t, s, "acme", 10); len(ids) != 1 || ids[0] != k.ID {
		t.Errorf("the new tenant lists %v, want [%s]", ids, k.ID)
	}
}

func testKeyNotFound(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	for _, id := range []string{NewKeyID(t), ""} {
		if _, err := s.GetKey(ctx, id); !errors.Is(err, tenants.ErrNotFound) {
			t.Errorf("GetKey(%q) = %v, want ErrNotFound", id, err)
		}
	}
	id := NewKeyID(t)
	if _, err := s.RevokeKey(ctx, id, base); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("RevokeKey of an unknown id = %v, want ErrNotFound", err)
	}
	if err := s.TouchKey(ctx, id, base); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("TouchKey of an unknown id = %v, want ErrNotFound", err)
	}
	if _, err := s.GetKey(ctx, id); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("RevokeKey or TouchKey of an unknown id created it: GetKey = %v", err)
	}
	if ids, _ := listAll(t, s, "", 10); len(ids) != 0 {
		t.Errorf("RevokeKey or TouchKey of an unknown id listed %v", ids)
	}
}

func testRevokeKeyKeepsTheFirstTime(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	k := NewKey(t, "acme")
	k.LastUseTime = base.Add(time.Minute)
	other := NewKey(t, "acme")
	createKeys(t, s, k, other)
	first := base.Add(time.Hour)
	got, err := s.RevokeKey(ctx, k.ID, first)
	if err != nil {
		t.Fatal(err)
	}
	want := k
	want.RevokeTime = first
	if d := keyDiff(got, want); d != "" {
		t.Errorf("RevokeKey returned: %s", d)
	}
	for _, again := range []time.Time{first.Add(time.Hour), first.Add(-time.Minute)} {
		got, err := s.RevokeKey(ctx, k.ID, again)
		if err != nil {
			t.Fatalf("RevokeKey of a revoked key: %v", err)
		}
		if d := keyDiff(got, want); d != "" {
			t.Errorf("RevokeKey again at %v returned: %s", again, d)
		}
	}
	if d := keyDiff(getKey(t, s, k.ID), want); d != "" {
		t.Errorf("GetKey of a revoked key: %s", d)
	}
	if got := getKey(t, s, other.ID); got.Revoked() {
		t.Error("revoking one key revoked another")
	}
}

func testTouchKeyMovesForwardOnly(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	k := NewKey(t, "acme")
	createKeys(t, s, k)
	want := k
	for _, tc := range []struct {
		touch, want time.Time
	}{
		{base.Add(time.Hour), base.Add(time.Hour)},
		{base.Add(time.Minute), base.Add(time.Hour)}, // earlier: kept
		{base.Add(time.Hour), base.Add(time.Hour)},   // the same: kept
		{base.Add(2 * time.Hour), base.Add(2 * time.Hour)},
	} {
		if err := s.TouchKey(ctx, k.ID, tc.touch); err != nil {
			t.Fatalf("TouchKey at %v: %v", tc.touch, err)
		}
		want.LastUseTime = tc.want
		if d := keyDiff(getKey(t, s, k.ID), want); d != "" {
			t.Errorf("after TouchKey at %v: %s", tc.touch, d)
		}
	}
	// A revoked key records its use too: the revocation stays.
	if _, err := s.RevokeKey(ctx, k.ID, base.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchKey(ctx, k.ID, base.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want.LastUseTime, want.RevokeTime = base.Add(4*time.Hour), base.Add(3*time.Hour)
	if d := keyDiff(getKey(t, s, k.ID), want); d != "" {
		t.Errorf("after TouchKey of a revoked key: %s", d)
	}
}

// Writes without what names a key, and revocations and uses at no time,
// fail, and store nothing.
func testKeyRejectsBadArguments(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	noID := NewKey(t, "acme")
	noID.ID = ""
	noTenant := NewKey(t, "")
	for _, k := range []tenants.Key{noID, noTenant} {
		if err := s.CreateKey(ctx, k); err == nil {
			t.Errorf("CreateKey of id %q, tenant %q succeeded, want an error", k.ID, k.Tenant)
		}
		if err := s.PutKey(ctx, k); err == nil {
			t.Errorf("PutKey of id %q, tenant %q succeeded, want an error", k.ID, k.Tenant)
		}
	}
	if ids, _ := listAll(t, s, "", 10); len(ids) != 0 {
		t.Errorf("rejected keys were stored: %v", ids)
	}
	k := NewKey(t, "acme")
	createKeys(t, s, k)
	if _, err := s.RevokeKey(ctx, k.ID, time.Time{}); err == nil {
		t.Error("RevokeKey at the zero time succeeded, want an error")
	}
	if err := s.TouchKey(ctx, k.ID, time.Time{}); err == nil {
		t.Error("TouchKey at the zero time succeeded, want an error")
	}
	if d := keyDiff(getKey(t, s, k.ID), k); d != "" {
		t.Errorf("after rejected RevokeKey and TouchKey: %s", d)
	}
}
