package recordstest

import (
	"errors"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// testTenantsScopeKeysAndBatches: two tenants using the same batch id and
// idempotency key get two batches and two images; a record without tenant
// is the default tenant's.
func testTenantsScopeKeysAndBatches(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	mine := map[string]string{} // tenant -> image id
	for _, tenant := range []string{"", "acme", "globex"} {
		img := newImage(t, "holiday", "upload-1")
		img.Tenant = tenant
		create(t, s, img)
		mine[tenant] = img.Id
	}
	for _, c := range []struct{ ask, want string }{
		{"", ""}, {records.DefaultTenant, ""}, {"acme", "acme"}, {"globex", "globex"},
	} {
		got, err := s.GetByIdempotencyKey(ctx, c.ask, "upload-1")
		if err != nil || got.Image.GetId() != mine[c.want] {
			t.Errorf("GetByIdempotencyKey(%q) = %v, %v; want image %s", c.ask, got, err, mine[c.want])
		}
		page, err := s.ListByBatch(ctx, c.ask, "holiday", 10, "")
		if err != nil || len(page.Records) != 1 || page.Records[0].Image.GetId() != mine[c.want] {
			t.Errorf("ListByBatch(%q) = %d records, %v; want only image %s", c.ask, len(page.Records), err, mine[c.want])
		}
	}
	if _, err := s.GetByIdempotencyKey(ctx, "initech", "upload-1"); !errors.Is(err, records.ErrNotFound) {
		t.Errorf("another tenant's key: %v, want ErrNotFound", err)
	}
	again := newImage(t, "", "upload-1")
	again.Tenant = "acme"
	if _, err := s.Create(ctx, again); !errors.Is(err, records.ErrExists) {
		t.Errorf("a tenant reusing its own key: %v, want ErrExists", err)
	}
}

// testDeletedIsFinal: DELETED is reachable from every state and nothing
// moves a record out of it.
func testDeletedIsFinal(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	img := newImage(t, "", "")
	create(t, s, img)
	del := func(im *pb.Image) error {
		if !records.CanMove(im.GetState(), pb.ImageState_IMAGE_STATE_DELETED) {
			return records.ErrNoChange
		}
		im.State = pb.ImageState_IMAGE_STATE_DELETED
		im.Original = nil
		return nil
	}
	if _, err := records.Mutate(ctx, s, img.Id, del); err != nil {
		t.Fatal(err)
	}
	if _, err := records.Mutate(ctx, s, img.Id, del); !errors.Is(err, records.ErrNoChange) {
		t.Errorf("deleting twice: %v, want ErrNoChange", err)
	}
	for _, st := range []pb.ImageState{pb.ImageState_IMAGE_STATE_PROCESSING, pb.ImageState_IMAGE_STATE_READY} {
		if records.CanMove(pb.ImageState_IMAGE_STATE_DELETED, st) {
			t.Errorf("CanMove(DELETED, %s) = true", st)
		}
	}
	got := get(t, s, img.Id)
	if got.Image.GetState() != pb.ImageState_IMAGE_STATE_DELETED || got.Image.GetOriginal() != nil || !records.Terminal(got.Image.GetState()) {
		t.Errorf("after delete: %v", got.Image)
	}
}
