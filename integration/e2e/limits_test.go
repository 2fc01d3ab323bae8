package e2e_test

import (
	"net/http"
	"strconv"
	"testing"
)

// slowTenant limits the tenant "slow" to a burst of 2 calls, then one
// every 2 s (IMAGEPIPE_LIMITS_TENANTS), for checkTenantRateLimit.
const slowTenant = "slow:rps=0.5,burst=2"

// A tenant over its request rate is answered 429 with Retry-After while
// another tenant is served in the same instant (issue 12, fair limits).
func TestTenantRateLimit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	env := map[string]string{"IMAGEPIPE_LIMITS_TENANTS": slowTenant}
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	checkTenantRateLimit(t, start(t, cfg))
}

// checkTenantRateLimit checks the answers to tenant "slow" (limited by
// slowTenant) over its rate, and to another tenant, on s.
func checkTenantRateLimit(t *testing.T, s *server) {
	t.Helper()
	slow, _ := s.newKey(t, "slow", "read")
	fast, _ := s.newKey(t, "fast", "read")
	var limited response
	for range 3 { // a burst of 2, then refused
		limited = s.call(t, http.MethodGet, "/v1/presets", slow, "", nil)
	}
	if e := limited.errorBody(t); limited.code != http.StatusTooManyRequests || e.Error.Reason != "RATE_LIMITED" {
		t.Fatalf("third call of a tenant allowed 2: %d %s", limited.code, e.Error.Reason)
	}
	if after, err := strconv.Atoi(limited.header.Get("Retry-After")); err != nil || after < 1 || after > 2 {
		t.Errorf("Retry-After %q, want 1..2 seconds", limited.header.Get("Retry-After"))
	}
	wantCode(t, "another tenant at the same instant", s.call(t, http.MethodGet, "/v1/presets", fast, "", nil), http.StatusOK)
}
