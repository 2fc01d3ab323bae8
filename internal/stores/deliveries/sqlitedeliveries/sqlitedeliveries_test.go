package sqlitedeliveries_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/sqlitedb"
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

// oldSchema is the table as it was before tenants.
const oldSchema = `
CREATE TABLE webhook_deliveries (
	id       TEXT PRIMARY KEY,
	version  INTEGER NOT NULL,
	state    INTEGER NOT NULL,
	image_id TEXT,
	batch_id TEXT,
	created  INTEGER NOT NULL,
	record   BLOB NOT NULL
);
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries(created, id);
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries(state, created, id);
CREATE INDEX webhook_deliveries_by_image ON webhook_deliveries(image_id, created, id) WHERE image_id IS NOT NULL;
CREATE INDEX webhook_deliveries_by_batch ON webhook_deliveries(batch_id, created, id) WHERE batch_id IS NOT NULL;
`

// A table made before tenants gets the tenant column when opened, by one
// of several stores opening it at once; its deliveries are the default
// tenant's.
func TestMigratesATableWithoutTenants(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "status.db")
	db, err := sqlitedb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(oldSchema); err != nil {
		t.Fatal(err)
	}
	old := deliveriestest.NewDelivery(t, "img-1", "", time.Now())
	old.Tenant = ""
	data, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO webhook_deliveries (id, version, state, image_id, created, record) VALUES (?, 1, ?, ?, ?, ?)`,
		old.Id, int32(old.State), old.ImageId, old.CreateTime.AsTime().UnixMicro(), data); err != nil {
		t.Fatal(err)
	}
	db.Close()

	stores := make([]*sqlitedeliveries.Store, 4)
	errs := make(chan error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			s, err := sqlitedeliveries.New(path)
			if err == nil {
				stores[i] = s
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("New on a table without tenants: %v", err)
		}
	}
	for _, s := range stores {
		defer s.Close()
	}
	s := stores[0]
	acme := deliveriestest.NewDelivery(t, "img-2", "", time.Now().Add(time.Millisecond))
	if _, err := s.Create(ctx, acme); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tenant string
		want   *pb.WebhookDelivery
	}{{deliveries.DefaultTenant, old}, {"acme", acme}} {
		page, err := s.List(ctx, deliveries.Filter{Tenant: tc.tenant}, 10, "")
		if err != nil || len(page.Records) != 1 || !proto.Equal(page.Records[0].Delivery, tc.want) {
			t.Errorf("List of tenant %s after the migration = %v, %v; want only %s", tc.tenant, page.Records, err, tc.want.Id)
		}
	}
	if _, err := sqlitedeliveries.New(path); err != nil { // and again, migrated
		t.Fatalf("New on a migrated table: %v", err)
	}
}

// A tenant's listing, the default tenant's among them, is read from the
// tenant index in order, without sorting.
func TestTenantListingUsesItsIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	s, err := sqlitedeliveries.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sqlitedb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`EXPLAIN QUERY PLAN SELECT id, version, created, record FROM webhook_deliveries
		WHERE coalesce(tenant, 'default') = ? AND (created, id) < (?, ?) ORDER BY created DESC, id DESC LIMIT ?`,
		deliveries.DefaultTenant, 1, "x", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(joined, "webhook_deliveries_by_tenant") || strings.Contains(joined, "TEMP B-TREE") {
		t.Errorf("query plan %q: want the tenant index, no sort", joined)
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
