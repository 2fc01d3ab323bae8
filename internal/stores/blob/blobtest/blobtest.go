// Package blobtest is the conformance suite for blob.Store drivers. Every
// driver's tests call Run, so that drivers are interchangeable:
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store {
//			s, err := fsblob.New(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package blobtest

import (
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// NewStore returns an empty store for one subtest. It should close the store
// with t.Cleanup; the suite never calls Close.
type NewStore func(t *testing.T) blob.Store

// Run runs the conformance suite as subtests of t. Each subtest gets its own
// store from newStore; subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"DefaultContentType", testDefaultContentType},
		{"EmptyObject", testEmptyObject},
		{"ETag", testETag},
		{"Overwrite", testOverwrite},
		{"KeysThatArePrefixes", testKeysThatArePrefixes},
		{"UnusualKeys", testUnusualKeys},
		{"GetRange", testGetRange},
		{"NotFound", testNotFound},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"InvalidKeys", testInvalidKeys},
		{"CancelledContext", testCancelledContext},
		{"FailedPut", testFailedPut},
		{"LargeObject", testLargeObject},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ReadersSeeWholeVersions", testReadersSeeWholeVersions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}
