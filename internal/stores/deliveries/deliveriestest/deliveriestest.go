// Package deliveriestest is the conformance suite every deliveries.Store
// driver must pass, so the embedded and the DynamoDB drivers keep one
// semantics.
//
// Listings are read right after writes: the suite assumes the driver's
// listing is consistent with its writes, which holds for SQLite and for the
// DynamoDB emulator, not always for DynamoDB's indexes (see dynamodeliveries).
package deliveriestest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NewID returns a fresh delivery id.
func NewID(t testing.TB) string {
	id, err := uuid.NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	return "dlv-" + id.String()
}

// base is the create time of the first delivery a subtest makes; later ones
// are a millisecond apart, so listings have one order.
var base = time.Date(2026, 11, 21, 18, 15, 10, 123456000, time.UTC)

// NewDelivery returns a PENDING delivery with every field set, created at
// created.
func NewDelivery(t testing.TB, imageID, batchID string, created time.Time) *pb.WebhookDelivery {
	ct := timestamppb.New(created)
	return &pb.WebhookDelivery{
		Id:              NewID(t),
		EventId:         "evt-" + NewID(t),
		EventType:       "image.ready",
		Url:             "https://hooks.example.com/imagepipe",
		ImageId:         imageID,
		BatchId:         batchID,
		State:           pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING,
		CreateTime:      ct,
		UpdateTime:      ct,
		NextAttemptTime: timestamppb.New(created.Add(time.Second)),
		Payload:         `{"id":"evt","type":"image.ready"}`,
	}
}

func attempt(status int32, msg string) *pb.WebhookAttempt {
	return &pb.WebhookAttempt{
		Time:       timestamppb.New(base.Add(time.Minute)),
		StatusCode: status,
		Error:      msg,
		Duration:   durationpb.New(150 * time.Millisecond),
	}
}

func clone(d *pb.WebhookDelivery) *pb.WebhookDelivery { return proto.Clone(d).(*pb.WebhookDelivery) }

// listAll follows a listing to its end, checking every page's size.
func listAll(t *testing.T, s deliveries.Store, f deliveries.Filter, pageSize int) (ids []string, pages int) {
	t.Helper()
	token := ""
	for {
		page, err := s.List(context.Background(), f, pageSize, token)
		if err != nil {
			t.Fatalf("List(%+v, %d, %q): %v", f, pageSize, token, err)
		}
		pages++
		if len(page.Records) > pageSize {
			t.Fatalf("page of %d records, asked for %d", len(page.Records), pageSize)
		}
		for _, r := range page.Records {
			ids = append(ids, r.Delivery.GetId())
		}
		if page.NextPageToken == "" {
			return ids, pages
		}
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		token = page.NextPageToken
	}
}

// Run runs the suite. newStore returns a fresh, empty store for each
// subtest.
func Run(t *testing.T, newStore func(t *testing.T) deliveries.Store) {
	ctx := context.Background()
	const (
		pending   = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING
		delivered = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED
		failed    = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED
	)

	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		s := newStore(t)
		d := NewDelivery(t, "img-1", "batch-1", base)
		d.Attempts = []*pb.WebhookAttempt{attempt(503, "service unavailable"), attempt(0, "timeout")}
		d.Replays, d.RoundAttempts = 2, 1
		rec, err := s.Create(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Version != 1 || !proto.Equal(rec.Delivery, d) {
			t.Errorf("Create = %v v%d, want the delivery at v1", rec.Delivery, rec.Version)
		}
		got, err := s.Get(ctx, d.Id)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.Delivery, d) || got.Version != 1 {
			t.Errorf("Get = %v v%d, want %v v1", got.Delivery, got.Version, d)
		}
		// Without image or batch, and without a create time.
		bare := &pb.WebhookDelivery{Id: NewID(t), State: failed}
		if _, err := s.Create(ctx, bare); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, bare.Id); err != nil || !proto.Equal(got.Delivery, bare) {
			t.Errorf("Get of a bare delivery = %v, %v; want %v", got, err, bare)
		}
	})

	t.Run("CreateTwice", func(t *testing.T) {
		s := newStore(t)
		d := NewDelivery(t, "img-1", "", base)
		if _, err := s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		other := clone(d)
		other.Url = "https://other.example.com/"
		other.State = failed
		if _, err := s.Create(ctx, other); !errors.Is(err, deliveries.ErrExists) {
			t.Fatalf("second Create = %v, want ErrExists", err)
		}
		got, err := s.Get(ctx, d.Id)
		if err != nil || !proto.Equal(got.Delivery, d) || got.Version != 1 {
			t.Errorf("after a duplicate Create: %v, %v; want the first delivery at v1", got, err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, NewID(t)); !errors.Is(err, deliveries.ErrNotFound) {
			t.Errorf("Get of an unknown id = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, ""); !errors.Is(err, deliveries.ErrNotFound) {
			t.Errorf("Get of the empty id = %v, want ErrNotFound", err)
		}
		d := NewDelivery(t, "", "", base)
		if _, err := s.Update(ctx, &deliveries.Record{Delivery: d, Version: 1}); !errors.Is(err, deliveries.ErrNotFound) {
			t.Errorf("Update of an unknown id = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, d.Id); !errors.Is(err, deliveries.ErrNotFound) {
			t.Errorf("Update of an unknown id created it: Get = %v", err)
		}
	})

	t.Run("ConditionalUpdate", func(t *testing.T) {
		s := newStore(t)
		rec, err := s.Create(ctx, NewDelivery(t, "img-1", "", base))
		if err != nil {
			t.Fatal(err)
		}
		upd := clone(rec.Delivery)
		upd.State = delivered
		upd.Attempts = append(upd.Attempts, attempt(200, ""))
		upd.UpdateTime = timestamppb.New(base.Add(time.Minute))
		next, err := s.Update(ctx, &deliveries.Record{Delivery: upd, Version: rec.Version})
		if err != nil {
			t.Fatal(err)
		}
		if next.Version != 2 || !proto.Equal(next.Delivery, upd) {
			t.Errorf("Update = %v v%d, want the update at v2", next.Delivery, next.Version)
		}
		stale := clone(rec.Delivery)
		stale.State = failed
		if _, err := s.Update(ctx, &deliveries.Record{Delivery: stale, Version: rec.Version}); !errors.Is(err, deliveries.ErrConflict) {
			t.Fatalf("stale Update = %v, want ErrConflict", err)
		}
		got, err := s.Get(ctx, upd.Id)
		if err != nil || !proto.Equal(got.Delivery, upd) || got.Version != 2 {
			t.Errorf("after a stale Update: %v, %v; want the first update at v2", got, err)
		}
		third, err := s.Update(ctx, &deliveries.Record{Delivery: clone(upd), Version: 2})
		if err != nil || third.Version != 3 {
			t.Errorf("Update at v2 = %v, %v; want v3", third, err)
		}
	})

	t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) {
		s := newStore(t)
		d := NewDelivery(t, "", "", base)
		if _, err := s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			conflicts int
		)
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				for range 100 {
					rec, err := s.Get(ctx, d.Id)
					if err != nil {
						errs <- err
						return
					}
					rec.Delivery.Replays++
					_, err = s.Update(ctx, rec)
					if err == nil {
						return
					}
					if !errors.Is(err, deliveries.ErrConflict) {
						errs <- err
						return
					}
					mu.Lock()
					conflicts++
					mu.Unlock()
				}
				errs <- errors.New("no update won in 100 tries")
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, d.Id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Delivery.GetReplays() != n || got.Version != n+1 {
			t.Errorf("replays = %d at v%d after %d racing updates (%d conflicts), want %d at v%d",
				got.Delivery.GetReplays(), got.Version, n, conflicts, n, n+1)
		}
	})

	t.Run("ListNewestFirstInPages", func(t *testing.T) {
		s := newStore(t)
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
	})

	t.Run("ListDefaultPageSize", func(t *testing.T) {
		s := newStore(t)
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
	})

	t.Run("ListEmpty", func(t *testing.T) {
		s := newStore(t)
		page, err := s.List(ctx, deliveries.Filter{}, 10, "")
		if err != nil || len(page.Records) != 0 || page.NextPageToken != "" {
			t.Errorf("List of an empty store: %d records, token %q, %v", len(page.Records), page.NextPageToken, err)
		}
	})

	t.Run("ListRejectsBadArguments", func(t *testing.T) {
		s := newStore(t)
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
		// The first three filters match all three deliveries.
		filters := []deliveries.Filter{
			{}, {State: pending}, {ImageID: "img-1"},
			{State: pending, ImageID: "img-1"}, {ImageID: "img-1", BatchID: "b1"},
		}
		for _, from := range filters[:3] {
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
	})

	t.Run("ListFilters", func(t *testing.T) {
		s := newStore(t)
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
	})

	t.Run("ListSeesUpdates", func(t *testing.T) {
		s := newStore(t)
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
	})
}
