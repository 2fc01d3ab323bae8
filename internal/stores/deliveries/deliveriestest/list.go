package deliveriestest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"google.golang.org/protobuf/proto"
)

func testListNewestFirstInPages(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	const n = 25
	want := make([]string, n) // ids, newest first
	// Created out of order: the listing follows create_time.
	for _, i := range rand.Perm(n) {
		d := NewDelivery(t, fmt.Sprint("img-", i), "", base.Add(time.Duration(i)*time.Millisecond))
		if _, err := s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		want[n-1-i] = d.Id
	}
	for _, tc := range []struct{ size, pages int }{{10, 3}, {1, 25}, {25, 1}, {24, 2}, {1000, 1}} {
		got, pages := listAll(t, s, deliveries.Filter{}, tc.size)
		if !slices.Equal(got, want) {
			t.Errorf("page size %d: listed\n%v\nwant (newest first)\n%v", tc.size, got, want)
		}
		if pages != tc.pages {
			t.Errorf("page size %d: %d pages, want %d", tc.size, pages, tc.pages)
		}
	}
	page, err := s.List(ctx, deliveries.Filter{}, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range page.Records {
		if r.Version != 1 || r.Delivery.GetCreateTime() == nil {
			t.Errorf("record %d listed as %v v%d, want the delivery at v1", i, r.Delivery, r.Version)
		}
	}
}

func testListDefaultPageSize(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 101 {
		if _, err := s.Create(ctx, NewDelivery(t, "", "", base.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.List(ctx, deliveries.Filter{}, 0, "")
	if err != nil || len(first.Records) != 100 || first.NextPageToken == "" {
		t.Fatalf("List with page size 0: %d records, token %q, %v; want 100 and a token", len(first.Records), first.NextPageToken, err)
	}
	last, err := s.List(ctx, deliveries.Filter{}, 0, first.NextPageToken)
	if err != nil || len(last.Records) != 1 || last.NextPageToken != "" {
		t.Fatalf("second page: %d records, token %q, %v; want 1 and no token", len(last.Records), last.NextPageToken, err)
	}
}

func testListEmpty(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	page, err := s.List(ctx, deliveries.Filter{}, 10, "")
	if err != nil || len(page.Records) != 0 || page.NextPageToken != "" {
		t.Errorf("List of an empty store: %d records, token %q, %v", len(page.Records), page.NextPageToken, err)
	}
}

func testListRejectsBadArguments(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 3 {
		if _, err := s.Create(ctx, NewDelivery(t, "img-1", "", base.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int{1001, -1} {
		if _, err := s.List(ctx, deliveries.Filter{}, size, ""); err == nil {
			t.Errorf("List with page size %d succeeded, want an error", size)
		}
	}
	for _, tok := range []string{"not a token!", "e30", "AAAA", "djE6"} {
		if _, err := s.List(ctx, deliveries.Filter{}, 2, tok); !errors.Is(err, deliveries.ErrInvalidToken) {
			t.Errorf("List with token %q = %v, want ErrInvalidToken", tok, err)
		}
	}
	// A token continues the listing it came from, not another one.
	// The first four filters match all three deliveries.
	filters := []deliveries.Filter{
		{}, {State: pending}, {ImageID: "img-1"}, {Tenant: "acme"},
		{State: pending, ImageID: "img-1"}, {ImageID: "img-1", BatchID: "b1"},
		{Tenant: deliveries.DefaultTenant}, {Tenant: "acme", State: pending},
	}
	for _, from := range filters[:4] {
		page, err := s.List(ctx, from, 2, "")
		if err != nil || page.NextPageToken == "" {
			t.Fatalf("first page of %+v: token %q, %v; want a token", from, page.NextPageToken, err)
		}
		for _, to := range filters {
			_, err := s.List(ctx, to, 2, page.NextPageToken)
			if to == from && err != nil {
				t.Errorf("token of %+v used with its own filter: %v", from, err)
			}
			if to != from && !errors.Is(err, deliveries.ErrInvalidToken) {
				t.Errorf("token of %+v used with %+v = %v, want ErrInvalidToken", from, to, err)
			}
		}
		if _, err := s.List(ctx, from, 2, page.NextPageToken+"x"); !errors.Is(err, deliveries.ErrInvalidToken) {
			t.Errorf("token with a byte appended = %v, want ErrInvalidToken", err)
		}
	}
}

func testListFilters(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	type row struct {
		id           string
		state        pb.WebhookDeliveryState
		image, batch string
	}
	states := []pb.WebhookDeliveryState{pending, delivered, failed}
	var rows []row // oldest first
	for i := range 60 {
		d := NewDelivery(t, fmt.Sprint("img-", i%4), []string{"", "b1", "b2"}[i%3], base.Add(time.Duration(i)*time.Millisecond))
		d.State = states[(i/5)%3] // runs of five, so matches are spread out
		if _, err := s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row{d.Id, d.State, d.ImageId, d.BatchId})
	}
	for _, f := range []deliveries.Filter{
		{State: delivered},
		{ImageID: "img-3"},
		{BatchID: "b2"},
		{State: failed, BatchID: "b1"},
		{State: pending, ImageID: "img-0"},
		{State: pending, ImageID: "img-1", BatchID: "b1"},
		{ImageID: "img-1", BatchID: "b2"},
		{ImageID: "no-such-image"},
		{State: failed, BatchID: "no-such-batch"},
	} {
		var want []string
		for _, r := range slices.Backward(rows) {
			if (f.State == 0 || r.state == f.State) && (f.ImageID == "" || r.image == f.ImageID) && (f.BatchID == "" || r.batch == f.BatchID) {
				want = append(want, r.id)
			}
		}
		for _, size := range []int{2, 7, 100} {
			got, pages := listAll(t, s, f, size)
			if !slices.Equal(got, want) {
				t.Errorf("filter %+v, page size %d: listed\n%v\nwant\n%v", f, size, got, want)
			}
			if wantPages := max(1, (len(want)+size-1)/size); pages != wantPages {
				t.Errorf("filter %+v, page size %d: %d pages for %d records, want %d", f, size, pages, len(want), wantPages)
			}
		}
	}
}

// Deliveries without a tenant (made before tenants) are the default
// tenant's: a listing for it shows them beside those stored as "default".
func testListFiltersByTenant(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	type row struct {
		id, tenant string
		state      pb.WebhookDeliveryState
		image      string
	}
	tenants := []string{"", deliveries.DefaultTenant, "acme", "globex", "acme"}
	states := []pb.WebhookDeliveryState{pending, delivered, failed}
	var rows []row // oldest first
	for i := range 45 {
		d := NewDelivery(t, fmt.Sprint("img-", i%3), "", base.Add(time.Duration(i)*time.Millisecond))
		d.Tenant = tenants[i%len(tenants)]
		d.State = states[(i/4)%3]
		if _, err := s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row{d.Id, d.Tenant, d.State, d.ImageId})
	}
	for _, f := range []deliveries.Filter{
		{Tenant: deliveries.DefaultTenant},
		{Tenant: "acme"},
		{Tenant: "globex"},
		{Tenant: "acme", State: failed},
		{Tenant: deliveries.DefaultTenant, ImageID: "img-2"},
		{Tenant: deliveries.DefaultTenant, State: delivered, ImageID: "img-0"},
		{Tenant: "no-such-tenant"},
		{State: pending},
	} {
		var want []string
		for _, r := range slices.Backward(rows) {
			tenant := r.tenant
			if tenant == "" {
				tenant = deliveries.DefaultTenant
			}
			if (f.Tenant == "" || tenant == f.Tenant) && (f.State == 0 || r.state == f.State) && (f.ImageID == "" || r.image == f.ImageID) {
				want = append(want, r.id)
			}
		}
		for _, size := range []int{3, 100} {
			got, pages := listAll(t, s, f, size)
			if !slices.Equal(got, want) {
				t.Errorf("filter %+v, page size %d: listed\n%v\nwant\n%v", f, size, got, want)
			}
			if wantPages := max(1, (len(want)+size-1)/size); pages != wantPages {
				t.Errorf("filter %+v, page size %d: %d pages for %d records, want %d", f, size, pages, len(want), wantPages)
			}
		}
	}
	// The tenant is the record's: an update moves the delivery to another
	// tenant's listing, and one without a tenant back to the default's.
	rec, err := s.Get(ctx, rows[2].id) // acme
	if err != nil {
		t.Fatal(err)
	}
	upd := clone(rec.Delivery)
	upd.Tenant = ""
	if _, err := s.Update(ctx, &deliveries.Record{Delivery: upd, Version: rec.Version}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, upd.Id)
	if err != nil || got.Delivery.GetTenant() != "" {
		t.Fatalf("Get after clearing the tenant = %v, %v; want no tenant", got, err)
	}
	defaults, _ := listAll(t, s, deliveries.Filter{Tenant: deliveries.DefaultTenant}, 100)
	acme, _ := listAll(t, s, deliveries.Filter{Tenant: "acme"}, 100)
	if !slices.Contains(defaults, upd.Id) || slices.Contains(acme, upd.Id) {
		t.Errorf("a delivery whose tenant was cleared: listed for default %v, for acme %v; want default only",
			slices.Contains(defaults, upd.Id), slices.Contains(acme, upd.Id))
	}
}

func testListSeesUpdates(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	rec, err := s.Create(ctx, NewDelivery(t, "img-1", "b1", base))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, NewDelivery(t, "img-2", "b1", base.Add(time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	upd := clone(rec.Delivery)
	upd.State = delivered
	upd.Attempts = []*pb.WebhookAttempt{attempt(204, "")}
	if _, err := s.Update(ctx, &deliveries.Record{Delivery: upd, Version: 1}); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, deliveries.Filter{State: delivered}, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 || page.Records[0].Version != 2 || !proto.Equal(page.Records[0].Delivery, upd) {
		t.Errorf("DELIVERED lists %v, want the updated delivery at v2", page.Records)
	}
	page, err = s.List(ctx, deliveries.Filter{State: pending, BatchID: "b1"}, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 || page.Records[0].Delivery.GetImageId() != "img-2" {
		t.Errorf("PENDING in b1 lists %d records, want only the one not updated", len(page.Records))
	}
}
