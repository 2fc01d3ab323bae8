// Package deliveriestest is the conformance suite every deliveries.Store
// driver must pass, so the embedded and the DynamoDB drivers keep one
// semantics. Every driver's tests call Run:
//
//	func TestConformance(t *testing.T) {
//		deliveriestest.Run(t, func(t *testing.T) deliveries.Store {
//			s, err := sqlitedeliveries.New(filepath.Join(t.TempDir(), "status.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Listings are read right after writes: the suite assumes the driver's
// listing is consistent with its writes, which holds for SQLite and for the
// DynamoDB emulator, not always for DynamoDB's indexes (see dynamodeliveries).
//
// The subtests run in parallel, so Run returns before they finish: a check
// made after the whole suite belongs in a t.Cleanup registered before Run.
package deliveriestest

import (
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
)

// NewStore returns a fresh, empty store for one subtest. It should close the
// store with t.Cleanup; the suite never calls Close.
type NewStore func(t *testing.T) deliveries.Store

// Run runs the conformance suite as subtests of t. Each subtest gets its own
// store from newStore; subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) deliveries.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"CreateTwice", testCreateTwice},
		{"NotFound", testNotFound},
		{"ConditionalUpdate", testConditionalUpdate},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdatesLoseNothing},
		{"ListNewestFirstInPages", testListNewestFirstInPages},
		{"ListDefaultPageSize", testListDefaultPageSize},
		{"ListEmpty", testListEmpty},
		{"ListRejectsBadArguments", testListRejectsBadArguments},
		{"ListFilters", testListFilters},
		{"ListFiltersByTenant", testListFiltersByTenant},
		{"ListSeesUpdates", testListSeesUpdates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}
