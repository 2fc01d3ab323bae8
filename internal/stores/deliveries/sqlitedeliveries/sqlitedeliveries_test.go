package sqlitedeliveries_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries/deliveriestest"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries/sqlitedeliveries"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	_ "github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"google.golang.org/protobuf/proto"
)

func TestConformance(t *testing.T) {
	deliveriestest.Run(t, func(t *testing.T) deliveries.Store {
		s, err := sqlitedeliveries.New(filepath.Join(t.TempDir(), "status.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// The delivery log and the image records share the status store's file,
// opened with one URL, in either order; each keeps its own rows.
func TestSharesTheStatusFile(t *testing.T) {
	ctx := context.Background()
	for _, deliveriesFirst := range []bool{true, false} {
		statusURL := "sqlite://" + filepath.Join(t.TempDir(), "status.db")
		open := []func() error{ // each creates its schema
			func() error {
				s, err := records.Open(ctx, statusURL)
				if err != nil {
					return err
				}
				return s.Close()
			},
			func() error {
				s, err := deliveries.Open(ctx, statusURL)
				if err != nil {
					return err
				}
				return s.Close()
			},
		}
		if deliveriesFirst {
			open[0], open[1] = open[1], open[0]
		}
		for _, o := range open {
			if err := o(); err != nil {
				t.Fatal(err)
			}
		}
		rs, err := records.Open(ctx, statusURL)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		ds, err := deliveries.Open(ctx, statusURL)
		if err != nil {
			t.Fatal(err)
		}
		defer ds.Close()

		img := &pb.Image{Id: deliveriestest.NewID(t), State: pb.ImageState_IMAGE_STATE_READY}
		if _, err := rs.Create(ctx, img); err != nil {
			t.Fatal(err)
		}
		d := deliveriestest.NewDelivery(t, img.Id, "", time.Now())
		d.Id = img.Id // the same key in both tables collides with nothing
		if _, err := ds.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		if got, err := rs.Get(ctx, img.Id); err != nil || !proto.Equal(got.Image, img) {
			t.Errorf("deliveries first %v: image record = %v, %v; want %v", deliveriesFirst, got, err, img)
		}
		if got, err := ds.Get(ctx, d.Id); err != nil || !proto.Equal(got.Delivery, d) {
			t.Errorf("deliveries first %v: delivery = %v, %v; want %v", deliveriesFirst, got, err, d)
		}
		page, err := ds.List(ctx, deliveries.Filter{ImageID: img.Id}, 10, "")
		if err != nil || len(page.Records) != 1 {
			t.Errorf("deliveries first %v: List = %d records, %v; want 1", deliveriesFirst, len(page.Records), err)
		}
	}
}

// Two stores on one file behave like two processes: each respects the
// other's conditional writes.
func TestTwoProcessesShareOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "status.db")
	a, err := sqlitedeliveries.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlitedeliveries.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	created, err := a.Create(ctx, deliveriestest.NewDelivery(t, "", "", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, created.Delivery); !errors.Is(err, deliveries.ErrExists) {
		t.Fatalf("Create of a taken id through the other store = %v, want ErrExists", err)
	}
	upd := proto.Clone(created.Delivery).(*pb.WebhookDelivery)
	upd.State = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED
	if _, err := b.Update(ctx, &deliveries.Record{Delivery: upd, Version: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Update(ctx, created); !errors.Is(err, deliveries.ErrConflict) {
		t.Fatalf("stale Update through the other store = %v, want ErrConflict", err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"sqlite://", "sqlite:///", "sqlite:///tmp/dir/"} {
		if s, err := deliveries.Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
}
