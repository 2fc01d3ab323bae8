package sqliterecords_test

import (
	"context"
	"path/filepath"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
)

// BenchmarkList reads one page of 100 of a tenant of 20,000 images (in
// batches of 1,000, every tenth image FAILED, the rest READY) newest first:
// the whole tenant, one state (a tenth of it), one batch, and, beside
// them, ListByBatch's page of the same batch (the listing before
// ListImages).
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	s, err := sqliterecords.New(filepath.Join(b.TempDir(), "status.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := range 20000 {
		st := pb.ImageState_IMAGE_STATE_READY
		if i%10 == 0 {
			st = pb.ImageState_IMAGE_STATE_FAILED
		}
		img := &pb.Image{Id: recordstest.NewID(b), Tenant: "acme", BatchId: "b" + string(rune('a'+i/1000)), State: st,
			Original: &pb.OriginalInfo{FileName: "cat.jpg", Bytes: 1234}, Preset: "default"}
		if _, err := s.Create(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		list func() (records.Page, error)
	}{
		{"Tenant", func() (records.Page, error) { return s.ListImages(ctx, records.ListQuery{Tenant: "acme"}) }},
		{"TenantFailed", func() (records.Page, error) {
			return s.ListImages(ctx, records.ListQuery{Tenant: "acme", State: pb.ImageState_IMAGE_STATE_FAILED})
		}},
		{"Batch", func() (records.Page, error) {
			return s.ListImages(ctx, records.ListQuery{Tenant: "acme", BatchID: "bc"})
		}},
		{"BatchFailed", func() (records.Page, error) {
			return s.ListImages(ctx, records.ListQuery{Tenant: "acme", BatchID: "bc", State: pb.ImageState_IMAGE_STATE_FAILED})
		}},
		{"ListByBatch", func() (records.Page, error) { return s.ListByBatch(ctx, "acme", "bc", 100, "") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				p, err := c.list()
				if err != nil || len(p.Records) != 100 {
					b.Fatalf("%d records, %v", len(p.Records), err)
				}
			}
		})
	}
}
