// Package recordstest is the conformance suite every records.Store driver
// must pass, so the embedded and the DynamoDB drivers keep one semantics.
// Every driver's tests call Run:
//
//	func TestConformance(t *testing.T) {
//		recordstest.Run(t, func(t *testing.T) records.Store {
//			s, err := sqliterecords.New(filepath.Join(t.TempDir(), "status.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The subtests run in parallel, so Run returns before they finish: a check
// made after the whole suite belongs in a t.Cleanup registered before Run.
package recordstest

import (
	"testing"
	"time"

	"github.com/google/uuid"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NewStore returns a fresh, empty store for one subtest. It should close the
// store with t.Cleanup; the suite never calls Close.
type NewStore func(t *testing.T) records.Store

// Run runs the conformance suite as subtests of t. Each subtest gets its own
// store from newStore; subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) records.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"IdempotencyKey", testIdempotencyKey},
		{"NotFound", testNotFound},
		{"ConditionalUpdate", testConditionalUpdate},
		{"ConcurrentMutateLosesNothing", testConcurrentMutateLosesNothing},
		{"ListByBatchPages", testListByBatchPages},
		{"ListImagesPages", testListImagesPages},
		{"ListImagesFilters", testListImagesFilters},
		{"ListImagesTokens", testListImagesTokens},
		{"ListImagesBounded", testListImagesBounded},
		{"TenantsScopeKeysAndBatches", testTenantsScopeKeysAndBatches},
		{"DeletedIsFinal", testDeletedIsFinal},
		{"BatchCounter", testBatchCounter},
		{"BatchCounterTenants", testBatchCounterTenants},
		{"BatchCounterCallbackURLs", testBatchCounterCallbackURLs},
		{"BatchCounterLosingUpdate", testBatchCounterLosingUpdate},
		{"BatchCounterConcurrent", testBatchCounterConcurrent},
		{"BatchChanges", testBatchChanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}

// NewID returns a time-ordered id, as the services make them.
func NewID(t testing.TB) string {
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func newImage(t testing.TB, batch, key string) *pb.Image {
	return &pb.Image{
		Id:             NewID(t),
		BatchId:        batch,
		IdempotencyKey: key,
		State:          pb.ImageState_IMAGE_STATE_RECEIVED,
		Original:       &pb.OriginalInfo{FileName: "cat.jpg", Format: pb.Format_FORMAT_JPEG, Bytes: 1234, Sha256: "ab12"},
		CreateTime:     timestamppb.New(time.Now().Truncate(time.Microsecond)),
		Preset:         "default",
	}
}

// create stores img, failing the test on error.
func create(t *testing.T, s records.Store, img *pb.Image) *records.Record {
	t.Helper()
	rec, err := s.Create(t.Context(), img)
	if err != nil {
		t.Fatalf("Create(%s): %v", img.GetId(), err)
	}
	return rec
}

// get reads a record, failing the test on error.
func get(t *testing.T, s records.Store, id string) *records.Record {
	t.Helper()
	rec, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return rec
}
