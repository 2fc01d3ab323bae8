package recordstest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
)

const (
	received   = pb.ImageState_IMAGE_STATE_RECEIVED
	queued     = pb.ImageState_IMAGE_STATE_QUEUED
	processing = pb.ImageState_IMAGE_STATE_PROCESSING
	ready      = pb.ImageState_IMAGE_STATE_READY
	failed     = pb.ImageState_IMAGE_STATE_FAILED
	deleted    = pb.ImageState_IMAGE_STATE_DELETED
)

// counter reads a batch's counter, failing the test on error.
func counter(t *testing.T, s records.Store, tenant, batch string) *records.BatchCounter {
	t.Helper()
	c, err := s.GetBatch(t.Context(), tenant, batch)
	if err != nil {
		t.Fatalf("GetBatch(%q, %q): %v", tenant, batch, err)
	}
	return c
}

// move moves image id to state to with Mutate, failing the test on error.
func move(t *testing.T, s records.Store, id string, to pb.ImageState) *records.Record {
	t.Helper()
	rec, err := records.Mutate(t.Context(), s, id, func(im *pb.Image) error { im.State = to; return nil })
	if err != nil {
		t.Fatalf("move %s to %s: %v", id, to, err)
	}
	return rec
}

// wantSummary checks that the counter's summary is the one a full read
// of the batch gives.
func wantSummary(t *testing.T, s records.Store, tenant, batch string) *records.BatchCounter {
	t.Helper()
	c := counter(t, s, tenant, batch)
	want, err := records.SummarizeBatch(t.Context(), s, tenant, batch, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want.Tenant == "" {
		want.Tenant = records.DefaultTenant
	}
	if got := c.Summary(); !proto.Equal(got, want) {
		t.Fatalf("counter summary\n%v\nwant (read from the images)\n%v", got, want)
	}
	return c
}

// testBatchCounter: creates, transitions, a write that keeps the state,
// the expected size and terminal states, each reflected in the counter.
func testBatchCounter(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.GetBatch(ctx, "", "trip"); !errors.Is(err, records.ErrNotFound) {
		t.Fatalf("GetBatch of a batch without images = %v, want ErrNotFound", err)
	}
	var ids []string
	for i := range 3 {
		img := newImage(t, "trip", "")
		img.BatchSize = []int32{0, 4, 2}[i]
		create(t, s, img)
		ids = append(ids, img.Id)
	}
	create(t, s, newImage(t, "", "")) // no batch: counted nowhere
	c := wantSummary(t, s, "", "trip")
	if c.Total != 3 || c.Counts[received] != 3 || c.Expected != 4 || c.Seq != 3 || c.LastImage != ids[2] || c.LastState != received {
		t.Fatalf("after 3 creates: %+v", c)
	}
	steps := []struct {
		image int
		to    pb.ImageState
	}{
		{0, queued}, {1, queued}, {0, processing}, {0, processing}, {0, ready}, {1, failed}, {2, deleted},
	}
	for i, st := range steps {
		move(t, s, ids[st.image], st.to)
		c := wantSummary(t, s, "", "trip")
		if c.Seq != int64(4+i) {
			t.Errorf("step %d: seq %d, want %d (one a write)", i, c.Seq, 4+i)
		}
	}
	c = counter(t, s, "", "trip")
	if c.LastImage != ids[2] || c.LastState != deleted {
		t.Errorf("last change %s %s, want %s DELETED", c.LastImage, c.LastState, ids[2])
	}
	if got := c.Summary().GetState(); got != pb.BatchState_BATCH_STATE_PENDING {
		t.Errorf("3 of 4 expected images: state %s, want PENDING", got)
	}
	last := newImage(t, "trip", "")
	create(t, s, last)
	move(t, s, last.Id, ready)
	c = wantSummary(t, s, "", "trip")
	if got := c.Summary().GetState(); got != pb.BatchState_BATCH_STATE_PARTIALLY_FAILED || !c.Complete() {
		t.Errorf("all 4 terminal: state %s, complete %v; want PARTIALLY_FAILED, true", got, c.Complete())
	}
	if c.LastImage != last.Id || c.LastState != ready {
		t.Errorf("last change %s %s, want %s READY", c.LastImage, c.LastState, last.Id)
	}
	if c.UpdateTime.IsZero() {
		t.Error("no update time")
	}
}

// testBatchCounterCallbackURLs: the counter keeps the distinct callback
// URLs of the batch's images, up to MaxCounterCallbackURLs.
func testBatchCounterCallbackURLs(t *testing.T, newStore NewStore) {
	s := newStore(t)
	var want []string
	for i := range records.MaxCounterCallbackURLs + 2 {
		img := newImage(t, "hooks", "")
		img.CallbackUrl = fmt.Sprintf("https://example.com/hook/%d", i/2) // each twice
		if i%3 == 0 {
			img.CallbackUrl = ""
		}
		create(t, s, img)
		if img.CallbackUrl != "" && !slices.Contains(want, img.CallbackUrl) {
			want = append(want, img.CallbackUrl)
		}
	}
	c := counter(t, s, "", "hooks")
	if !slices.Equal(c.CallbackURLs, want) || c.MoreCallbackURLs {
		t.Fatalf("callback URLs %v (more: %v), want %v", c.CallbackURLs, c.MoreCallbackURLs, want)
	}
	for i := range records.MaxCounterCallbackURLs {
		img := newImage(t, "hooks", "")
		img.CallbackUrl = fmt.Sprintf("https://example.org/%d", i)
		create(t, s, img)
	}
	c = counter(t, s, "", "hooks")
	if len(c.CallbackURLs) != records.MaxCounterCallbackURLs || !c.MoreCallbackURLs || !slices.Equal(c.CallbackURLs[:len(want)], want) {
		t.Errorf("past the cap: %d URLs (more: %v), want %d and more", len(c.CallbackURLs), c.MoreCallbackURLs, records.MaxCounterCallbackURLs)
	}
}

// testBatchCounterTenants: counters are per tenant's batch.
func testBatchCounterTenants(t *testing.T, newStore NewStore) {
	s := newStore(t)
	for i, tenant := range []string{"", "acme", "acme"} {
		img := newImage(t, "holiday", "")
		img.Tenant = tenant
		create(t, s, img)
		if i == 2 {
			move(t, s, img.Id, ready)
		}
	}
	if c := counter(t, s, records.DefaultTenant, "holiday"); c.Total != 1 || c.Tenant != records.DefaultTenant || c.BatchID != "holiday" {
		t.Errorf("default tenant's batch: %+v", c)
	}
	if c := wantSummary(t, s, "acme", "holiday"); c.Total != 2 || c.Counts[ready] != 1 || c.Tenant != "acme" {
		t.Errorf("acme's batch: %+v", c)
	}
	if _, err := s.GetBatch(t.Context(), "globex", "holiday"); !errors.Is(err, records.ErrNotFound) {
		t.Errorf("another tenant's batch: %v, want ErrNotFound", err)
	}
}

// testBatchCounterLosingUpdate: an Update that loses (a stale version,
// as a redelivered message re-applying a transition has) counts nothing.
func testBatchCounterLosingUpdate(t *testing.T, newStore NewStore) {
	s := newStore(t)
	img := newImage(t, "b", "")
	rec := create(t, s, img)
	upd := proto.Clone(rec.Image).(*pb.Image)
	upd.State = ready
	if _, err := s.Update(t.Context(), &records.Record{Image: upd, Version: rec.Version}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the same transition again, from the version it was read at
		if _, err := s.Update(t.Context(), &records.Record{Image: upd, Version: rec.Version}); !errors.Is(err, records.ErrConflict) {
			t.Fatalf("re-applied update = %v, want ErrConflict", err)
		}
	}
	if c := wantSummary(t, s, "", "b"); c.Seq != 2 || c.Counts[ready] != 1 || c.Total != 1 {
		t.Errorf("after one transition applied three times: %+v", c)
	}
}

// testBatchCounterConcurrent: images of one batch moved through their
// states by concurrent writers, two racing on each transition, end with
// exact counts.
func testBatchCounterConcurrent(t *testing.T, newStore NewStore) {
	s := newStore(t)
	const n = 6
	var ids []string
	for range n {
		img := newImage(t, "race", "")
		create(t, s, img)
		ids = append(ids, img.Id)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n*3)
	for _, id := range ids {
		for range 2 {
			wg.Go(func() {
				for _, to := range []pb.ImageState{queued, processing, ready} {
					_, err := records.Mutate(t.Context(), s, id, func(im *pb.Image) error {
						if !records.CanMove(im.GetState(), to) || im.GetState() == to {
							return records.ErrNoChange // the other writer got there first
						}
						im.State = to
						return nil
					})
					if err != nil && !errors.Is(err, records.ErrNoChange) {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := wantSummary(t, s, "", "race")
	if c.Total != n || c.Counts[ready] != n || len(c.Counts) != 1 || c.Seq != 4*n {
		t.Errorf("after %d images went RECEIVED→QUEUED→PROCESSING→READY: %+v; want %d READY, seq %d", n, c, n, 4*n)
	}
}

// testBatchChanges: the images written in a range of the counter's seq,
// each once, as they are now.
func testBatchChanges(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	var ids []string
	for range 3 {
		img := newImage(t, "feed", "")
		create(t, s, img)
		ids = append(ids, img.Id)
	}
	create(t, s, newImage(t, "other", ""))
	changed := func(after, upTo int64) []string {
		t.Helper()
		recs, err := s.BatchChanges(ctx, "", "feed", after, upTo)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, fmt.Sprintf("%s:%s", r.Image.GetId(), r.Image.GetState()))
		}
		return out
	}
	line := func(i int, st pb.ImageState) string { return fmt.Sprintf("%s:%s", ids[i], st) }
	if got, want := changed(0, 3), []string{line(0, received), line(1, received), line(2, received)}; !slices.Equal(got, want) {
		t.Errorf("changes 1..3 = %v, want %v", got, want)
	}
	move(t, s, ids[1], queued)     // 4
	move(t, s, ids[0], queued)     // 5
	move(t, s, ids[1], processing) // 6
	if got, want := changed(3, 6), []string{line(0, queued), line(1, processing)}; !slices.Equal(got, want) {
		t.Errorf("changes 4..6 = %v, want %v (each image once, in the order of its last write)", got, want)
	}
	if got, want := changed(5, 6), []string{line(1, processing)}; !slices.Equal(got, want) {
		t.Errorf("change 6 = %v, want %v", got, want)
	}
	if got := changed(6, 6); len(got) != 0 {
		t.Errorf("empty range: %v", got)
	}
	if got := changed(0, 100); len(got) != 3 {
		t.Errorf("changes 1..100 = %v, want the 3 images once each", got)
	}
	if recs, err := s.BatchChanges(ctx, "acme", "feed", 0, 6); err != nil || len(recs) != 0 {
		t.Errorf("another tenant's batch of that name: %d records, %v", len(recs), err)
	}
}
