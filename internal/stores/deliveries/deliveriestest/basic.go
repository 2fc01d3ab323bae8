package deliveriestest

import (
	"errors"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func testCreateGetRoundTrip(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
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
}

func testCreateTwice(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
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
}

func testNotFound(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
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
}

func testConditionalUpdate(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
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
}

func testConcurrentUpdatesLoseNothing(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
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
}
