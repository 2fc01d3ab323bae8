package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// keyStore is the least tenants.Store the key authenticator needs: keys in
// a map, GetKey and TouchKey. It exists only for these unit tests; the
// drivers' conformance suite (tenantstest) covers the real stores, and the
// end-to-end tests run the authenticator and a real store together.
type keyStore struct {
	tenants.Store // the methods Keys does not call: nil, they panic

	mu       sync.Mutex
	keys     map[string]tenants.Key
	touches  []string
	getErr   error
	touchErr error
}

func newKeyStore(keys ...tenants.Key) *keyStore {
	s := &keyStore{keys: map[string]tenants.Key{}}
	for _, k := range keys {
		s.keys[k.ID] = k
	}
	return s
}

func (s *keyStore) GetKey(_ context.Context, id string) (tenants.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return tenants.Key{}, s.getErr
	}
	k, ok := s.keys[id]
	if !ok {
		return tenants.Key{}, tenants.ErrNotFound
	}
	return k, nil
}

func (s *keyStore) TouchKey(_ context.Context, id string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touches = append(s.touches, id)
	if s.touchErr != nil {
		return s.touchErr
	}
	k, ok := s.keys[id]
	if !ok {
		return tenants.ErrNotFound
	}
	if t.After(k.LastUseTime) {
		k.LastUseTime = t
	}
	s.keys[id] = k
	return nil
}

func (s *keyStore) touchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.touches)
}

func mustKey(t *testing.T, tenant string, scopes ...auth.Scope) (string, tenants.Key) {
	t.Helper()
	token, k, err := auth.NewKey(tenant, scopes, "test")
	if err != nil {
		t.Fatal(err)
	}
	return token, k
}

// wantCode fails unless err is a gRPC status (as grpc-go would send it)
// with code and, when msg is not empty, that message.
func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || (msg != "" && st.Message() != msg) {
		t.Fatalf("error %v: want %s %q", err, code, msg)
	}
}

const refused = "invalid or revoked credentials"

func TestKeys(t *testing.T) {
	good, goodKey := mustKey(t, "acme", auth.ScopeUpload, auth.ScopeRead)
	revoked, revokedKey := mustKey(t, "acme", auth.ScopeRead)
	revokedKey.RevokeTime = time.Now()
	odd, oddKey := mustKey(t, "acme", auth.ScopeRead)
	oddKey.Scopes = []string{"read", "write", "read"}
	admin := strings.Repeat("a", 40)
	adminKey, err := auth.BootstrapKey(admin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	store := newKeyStore(goodKey, revokedKey, oddKey, adminKey)
	a := auth.NewKeys(store, nil)

	for _, tc := range []struct {
		name, token string
		want        auth.Principal
		ok          bool
	}{
		{"valid", good, auth.Principal{Tenant: "acme", Scopes: []auth.Scope{auth.ScopeUpload, auth.ScopeRead}, KeyID: goodKey.ID}, true},
		{"unknown stored scopes dropped", odd, auth.Principal{Tenant: "acme", Scopes: []auth.Scope{auth.ScopeRead}, KeyID: oddKey.ID}, true},
		{"bootstrap admin key", admin, auth.Principal{Tenant: "default", Scopes: []auth.Scope{auth.ScopeAdmin}, KeyID: "admin"}, true},
		{"wrong secret", good[:len(good)-1] + "x", auth.Principal{}, false},
		{"unknown id", "ipk_zzzzzzzzzzzz" + good[len("ipk_zzzzzzzzzzzz"):], auth.Principal{}, false},
		{"revoked", revoked, auth.Principal{}, false},
		{"malformed", "ipk_nope", auth.Principal{}, false},
		{"wrong admin key", strings.Repeat("b", 40), auth.Principal{}, false},
		{"JWT", "a.b.c", auth.Principal{}, false},
		{"empty", "", auth.Principal{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Authenticate(t.Context(), tc.token)
			if !tc.ok {
				// Every refusal looks the same: nothing says which part was wrong.
				wantCode(t, err, codes.Unauthenticated, refused)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Tenant != tc.want.Tenant || p.KeyID != tc.want.KeyID || p.Subject != "" || !slices.Equal(p.Scopes, tc.want.Scopes) {
				t.Errorf("principal %+v, want %+v", p, tc.want)
			}
		})
	}
}

// A key revoked after it was used is refused on the next call: nothing is
// cached.
func TestKeysRevokedAtOnce(t *testing.T) {
	token, k := mustKey(t, "acme", auth.ScopeRead)
	store := newKeyStore(k)
	a := auth.NewKeys(store, nil)
	if _, err := a.Authenticate(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	k.RevokeTime = time.Now()
	store.keys[k.ID] = k
	store.mu.Unlock()
	_, err := a.Authenticate(t.Context(), token)
	wantCode(t, err, codes.Unauthenticated, refused)
}

// A store that fails is UNAVAILABLE (retry), not a refusal.
func TestKeysStoreDown(t *testing.T) {
	token, k := mustKey(t, "acme", auth.ScopeRead)
	store := newKeyStore(k)
	store.getErr = errors.New("disk on fire")
	_, err := auth.NewKeys(store, nil).Authenticate(t.Context(), token)
	wantCode(t, err, codes.Unavailable, "")
	if e, ok := apperr.As(err); !ok || e.Reason != apperr.ReasonUnavailable || strings.Contains(e.Msg, "fire") {
		t.Errorf("error %#v: want apperr UNAVAILABLE hiding the cause", err)
	}
	if !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("error %q lost its cause (for the log)", err)
	}
}

// Use is recorded at most once a minute per key, and a failure to record
// it does not fail the call.
func TestKeysTouch(t *testing.T) {
	tokA, kA := mustKey(t, "acme", auth.ScopeRead)
	tokB, kB := mustKey(t, "acme", auth.ScopeRead)
	store := newKeyStore(kA, kB)
	a := auth.NewKeys(store, nil)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	a.Now = func() time.Time { return now }

	call := func(token string) {
		t.Helper()
		if _, err := a.Authenticate(t.Context(), token); err != nil {
			t.Fatal(err)
		}
	}
	call(tokA)
	call(tokA)
	call(tokB)
	if got := store.touchCount(); got != 2 {
		t.Fatalf("%d touches after A, A, B; want 2 (once per key)", got)
	}
	if got, _ := store.GetKey(t.Context(), kA.ID); !got.LastUseTime.Equal(now) {
		t.Errorf("last use %v, want %v", got.LastUseTime, now)
	}
	now = now.Add(59 * time.Second)
	call(tokA)
	if got := store.touchCount(); got != 2 {
		t.Fatalf("%d touches within the minute; want 2", got)
	}
	now = now.Add(time.Second)
	store.touchErr = errors.New("read-only database")
	call(tokA) // touch fails, the call does not
	if got := store.touchCount(); got != 3 {
		t.Fatalf("%d touches after a minute; want 3", got)
	}
	call(tokA) // the failed attempt counts: no retry within the minute
	if got := store.touchCount(); got != 3 {
		t.Fatalf("%d touches; want 3 (a failed touch is not retried at once)", got)
	}
}

// Concurrent calls with one key touch it once.
func TestKeysTouchConcurrent(t *testing.T) {
	token, k := mustKey(t, "acme", auth.ScopeRead)
	store := newKeyStore(k)
	a := auth.NewKeys(store, nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := a.Authenticate(context.Background(), token); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := store.touchCount(); got != 1 {
		t.Errorf("%d touches; want 1", got)
	}
}
