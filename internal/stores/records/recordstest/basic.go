package recordstest

import (
	"errors"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
)

func testCreateGetRoundTrip(t *testing.T, newStore NewStore) {
	s := newStore(t)
	img := newImage(t, "b1", "")
	rec := create(t, s, img)
	if rec.Version != 1 {
		t.Errorf("version after create = %d, want 1", rec.Version)
	}
	got := get(t, s, img.Id)
	if !proto.Equal(got.Image, img) || got.Version != 1 {
		t.Errorf("Get = %v v%d, want %v v1", got.Image, got.Version, img)
	}
}

func testCreateDuplicateID(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	img := newImage(t, "", "")
	create(t, s, img)
	other := proto.Clone(img).(*pb.Image)
	other.Preset = "avatar"
	if _, err := s.Create(ctx, other); !errors.Is(err, records.ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	if got := get(t, s, img.Id); got.Image.GetPreset() != "default" {
		t.Errorf("duplicate create overwrote the record: preset %q", got.Image.GetPreset())
	}
}

func testIdempotencyKey(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	first := newImage(t, "", "upload-42")
	create(t, s, first)
	if _, err := s.Create(ctx, newImage(t, "", "upload-42")); !errors.Is(err, records.ErrExists) {
		t.Fatalf("Create with a taken key = %v, want ErrExists", err)
	}
	got, err := s.GetByIdempotencyKey(ctx, "", "upload-42")
	if err != nil {
		t.Fatal(err)
	}
	if got.Image.GetId() != first.Id {
		t.Errorf("GetByIdempotencyKey id = %s, want %s", got.Image.GetId(), first.Id)
	}
	if _, err := s.GetByIdempotencyKey(ctx, "", "nope"); !errors.Is(err, records.ErrNotFound) {
		t.Errorf("unknown key: %v, want ErrNotFound", err)
	}
	// Images without a key never collide with each other.
	for i := range 3 {
		if _, err := s.Create(ctx, newImage(t, "", "")); err != nil {
			t.Fatalf("keyless create %d: %v", i, err)
		}
	}
}

func testNotFound(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Get(ctx, NewID(t)); !errors.Is(err, records.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	img := newImage(t, "", "")
	if _, err := s.Update(ctx, &records.Record{Image: img, Version: 1}); !errors.Is(err, records.ErrNotFound) {
		t.Errorf("Update of a missing record = %v, want ErrNotFound", err)
	}
}

func testConditionalUpdate(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	img := newImage(t, "", "")
	rec := create(t, s, img)
	upd := proto.Clone(rec.Image).(*pb.Image)
	upd.State = pb.ImageState_IMAGE_STATE_QUEUED
	next, err := s.Update(ctx, &records.Record{Image: upd, Version: rec.Version})
	if err != nil {
		t.Fatal(err)
	}
	if next.Version != 2 {
		t.Errorf("version = %d, want 2", next.Version)
	}
	stale := proto.Clone(rec.Image).(*pb.Image)
	stale.State = pb.ImageState_IMAGE_STATE_FAILED
	if _, err := s.Update(ctx, &records.Record{Image: stale, Version: rec.Version}); !errors.Is(err, records.ErrConflict) {
		t.Fatalf("stale update = %v, want ErrConflict", err)
	}
	got := get(t, s, img.Id)
	if got.Image.GetState() != pb.ImageState_IMAGE_STATE_QUEUED || got.Version != 2 {
		t.Errorf("after stale update: state %v v%d, want QUEUED v2", got.Image.GetState(), got.Version)
	}
}
