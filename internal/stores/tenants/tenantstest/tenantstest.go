// Package tenantstest is the conformance suite every tenants.Store driver
// must pass, so the embedded and the DynamoDB drivers keep one semantics.
// Every driver's tests call Run:
//
//	func TestConformance(t *testing.T) {
//		tenantstest.Run(t, func(t *testing.T) tenants.Store {
//			s, err := sqlitetenants.New(filepath.Join(t.TempDir(), "status.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// What the suite holds drivers to, beyond the interface's doc:
//
//   - Times (CreateTime, LastUseTime, RevokeTime, UpdateTime) come back to
//     the microsecond, in UTC: finer digits are dropped. A zero time comes
//     back zero.
//   - Hashes come back byte for byte; scopes and webhook secrets in their
//     order. An empty list comes back empty (nil or not).
//   - Listings include revoked keys.
//   - PutTenant stores the UpdateTime it is given, or the time of the write
//     when it is zero, and returns what it stored.
//
// Listings are read right after writes: the suite assumes the driver's
// listing is consistent with its writes, which holds for SQLite and for the
// DynamoDB emulator, not always for DynamoDB's indexes (see dynamotenants).
//
// The subtests run in parallel, so Run returns before they finish: a check
// made after the whole suite belongs in a t.Cleanup registered before Run.
package tenantstest

import (
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// NewStore returns a fresh, empty store for one subtest. It should close the
// store with t.Cleanup; the suite never calls Close.
type NewStore func(t *testing.T) tenants.Store

// Run runs the conformance suite as subtests of t. Each subtest gets its own
// store from newStore; subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) tenants.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"KeyRoundTrip", testKeyRoundTrip},
		{"KeyTimesToTheMicrosecond", testKeyTimesToTheMicrosecond},
		{"CreateKeyTwice", testCreateKeyTwice},
		{"PutKeyCreatesAndReplaces", testPutKeyCreatesAndReplaces},
		{"KeyNotFound", testKeyNotFound},
		{"RevokeKeyKeepsTheFirstTime", testRevokeKeyKeepsTheFirstTime},
		{"TouchKeyMovesForwardOnly", testTouchKeyMovesForwardOnly},
		{"KeyRejectsBadArguments", testKeyRejectsBadArguments},
		{"ListKeysOfATenantInPages", testListKeysOfATenantInPages},
		{"ListKeysOfAllTenantsInPages", testListKeysOfAllTenantsInPages},
		{"ListKeysDefaultPageSize", testListKeysDefaultPageSize},
		{"ListKeysEmpty", testListKeysEmpty},
		{"ListKeysRejectsBadArguments", testListKeysRejectsBadArguments},
		{"ListKeysSeesChanges", testListKeysSeesChanges},
		{"TenantNotFound", testTenantNotFound},
		{"PutTenantCreates", testPutTenantCreates},
		{"PutTenantConditionalUpdate", testPutTenantConditionalUpdate},
		{"PutTenantConcurrentUpdatesLoseNothing", testPutTenantConcurrentUpdatesLoseNothing},
		{"TenantSecretsAndTimes", testTenantSecretsAndTimes},
		{"KeysAndTenantsApart", testKeysAndTenantsApart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}
