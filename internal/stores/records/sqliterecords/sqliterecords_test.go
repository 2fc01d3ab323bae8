package sqliterecords_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"google.golang.org/protobuf/proto"
)

func TestConformance(t *testing.T) {
	recordstest.Run(t, func(t *testing.T) records.Store {
		s, err := sqliterecords.New(filepath.Join(t.TempDir(), "status.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// Two stores on one file behave like two processes: a conditional update
// made through one is seen, and respected, by the other.
func TestTwoProcessesShareOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "status.db")
	a, err := records.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqliterecords.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	img := &pb.Image{Id: recordstest.NewID(t), State: pb.ImageState_IMAGE_STATE_RECEIVED}
	created, err := a.Create(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := records.Mutate(ctx, b, img.Id, func(im *pb.Image) error {
		im.State = pb.ImageState_IMAGE_STATE_QUEUED
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stale := proto.Clone(created.Image).(*pb.Image)
	stale.State = pb.ImageState_IMAGE_STATE_FAILED
	if _, err := a.Update(ctx, &records.Record{Image: stale, Version: created.Version}); !errors.Is(err, records.ErrConflict) {
		t.Fatalf("stale update through the other store = %v, want ErrConflict", err)
	}
	got, err := a.Get(ctx, img.Id)
	if err != nil || got.Image.GetState() != pb.ImageState_IMAGE_STATE_QUEUED {
		t.Fatalf("a sees %v (err %v), want QUEUED written through b", got.Image.GetState(), err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"sqlite://", "sqlite:///", "mysql://x/y", "::"} {
		if s, err := records.Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
}
