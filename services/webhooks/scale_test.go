package webhooks_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"github.com/imagepipe/imagepipe/services/status"
	"github.com/imagepipe/imagepipe/services/webhooks"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// countingStore is a records.Store that counts the records its readers
// read: one for Get and GetByIdempotencyKey, one per record returned for
// ListByBatch and BatchChanges; and, apart, the counters (GetBatch).
type countingStore struct {
	records.Store
	read     atomic.Int64
	counters atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, id string) (*records.Record, error) {
	c.read.Add(1)
	return c.Store.Get(ctx, id)
}

func (c *countingStore) GetByIdempotencyKey(ctx context.Context, tenant, key string) (*records.Record, error) {
	c.read.Add(1)
	return c.Store.GetByIdempotencyKey(ctx, tenant, key)
}

func (c *countingStore) GetBatch(ctx context.Context, tenant, batchID string) (*records.BatchCounter, error) {
	c.counters.Add(1)
	return c.Store.GetBatch(ctx, tenant, batchID)
}

func (c *countingStore) ListByBatch(ctx context.Context, tenant, batchID string, size int, token string) (records.Page, error) {
	p, err := c.Store.ListByBatch(ctx, tenant, batchID, size, token)
	c.read.Add(int64(len(p.Records)))
	return p, err
}

func (c *countingStore) BatchChanges(ctx context.Context, tenant, batchID string, after, upTo int64) ([]*records.Record, error) {
	recs, err := c.Store.BatchChanges(ctx, tenant, batchID, after, upTo)
	c.read.Add(int64(len(recs)))
	return recs, err
}

// watchStream is the server side of a WatchBatch stream, in memory.
type watchStream struct {
	grpc.ServerStream
	ctx  context.Context
	mu   sync.Mutex
	sent []*pb.WatchBatchResponse
}

func (s *watchStream) Context() context.Context { return s.ctx }

func (s *watchStream) Send(m *pb.WatchBatchResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return nil
}

// batchRun is what one batch cost its readers.
type batchRun struct {
	images int
	// dispatcher and watch are the records the dispatcher and the watch
	// read, counters apart; polls the counter reads of the watch.
	dispatcher, dispatcherCounters, watch, polls int64
	watchMessages                                int
	took                                         time.Duration
}

func (r batchRun) perEvent(reads int64) float64 { return float64(reads) / float64(r.images) }

// pollInterval is the watch's.
const pollInterval = 20 * time.Millisecond

// A batch's image events cost the dispatcher, and a watch of the batch,
// the same reads whatever the batch's size: a 1,000 and a 10,000-image
// batch (100 and 500 under the race detector, which makes the pure-Go
// SQLite about ten times slower; IMAGEPIPE_BATCH_SIZES=1000,10000 asks for
// others), each image created, moved to READY or FAILED through the store
// and announced on the events queue, completes with one batch.completed
// and a watch that ends with the batch. Per image event the dispatcher
// reads the image and the batch's counter; the watch reads the batch once
// when it starts and then about each change once, besides one counter read
// per poll. (Before batch counters, each event read the whole batch, and so
// did each poll of the watch.)
func TestBatchReadsPerEventIndependentOfSize(t *testing.T) {
	sizes := []int{1000, 10000}
	if raceEnabled {
		sizes = []int{100, 500}
	}
	if s := os.Getenv("IMAGEPIPE_BATCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range splitComma(s) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	var runs []batchRun
	for _, n := range sizes {
		r := runBatch(t, n)
		t.Logf("%6d images in %v: dispatcher %.2f records + %.2f counters read per event; watch %.2f records per event, %d counter polls, %d messages",
			n, r.took.Round(time.Millisecond), r.perEvent(r.dispatcher), r.perEvent(r.dispatcherCounters),
			r.perEvent(r.watch), r.polls, r.watchMessages)
		runs = append(runs, r)
	}
	for _, r := range runs {
		// The dispatcher: the image and its batch's counter (a
		// redelivered event reads them again).
		if got := r.perEvent(r.dispatcher + r.dispatcherCounters); got > 2.1 {
			t.Errorf("%d images: dispatcher read %.2f records per event, want at most 2.1", r.images, got)
		}
		// The watch: the batch once, then each change about once.
		if got := r.perEvent(r.watch); got > 2.5 {
			t.Errorf("%d images: the watch read %.2f records per event, want at most 2.5", r.images, got)
		}
		// And one counter a poll.
		if most := int64(r.took/pollInterval) + 10; r.polls > most {
			t.Errorf("%d images: the watch read the counter %d times in %v, want at most one a poll (%d)", r.images, r.polls, r.took, most)
		}
	}
	small, large := runs[0], runs[len(runs)-1]
	for what, reads := range map[string]func(batchRun) int64{
		"dispatcher": func(r batchRun) int64 { return r.dispatcher + r.dispatcherCounters },
		"watch":      func(r batchRun) int64 { return r.watch },
	} {
		if a, b := small.perEvent(reads(small)), large.perEvent(reads(large)); b > a*1.1+0.05 {
			t.Errorf("%s: %.2f records per event at %d images, %.2f at %d: grows with the batch", what, a, small.images, b, large.images)
		}
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// runBatch runs one batch of n images past a dispatcher and a watch.
func runBatch(t *testing.T, n int) batchRun {
	t.Helper()
	// About 5 ms an image on a quiet 2-core machine; room for a busy one.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(n)*25*time.Millisecond)
	defer cancel()
	e := newEnv(t)
	raw := e.rs // the writers' store: their reads are not the events'
	counted := &countingStore{Store: raw}
	e.rs = counted
	rcv := newReceiver(t, always(http.StatusOK))
	cfg := testConfig()
	cfg.Workers = 4
	d, err := webhooks.NewDispatcher(cfg, e.deps(cfg, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	dispatched := make(chan struct{})
	go func() { defer close(dispatched); _ = d.Run(runCtx) }()
	defer func() { stop(); <-dispatched }()
	hook := rcv.url("/batch")

	start := time.Now()
	ids := make([]string, n)
	parallel(t, n, func(i int) error {
		img := &pb.Image{Id: recordstest.NewID(t), BatchId: "big", BatchSize: int32(n), State: pb.ImageState_IMAGE_STATE_RECEIVED,
			CreateTime: timestamppb.Now(), UpdateTime: timestamppb.Now()}
		if i == 0 {
			img.CallbackUrl = hook // one callback: the batch.completed goes there
		}
		ids[i] = img.Id
		_, err := raw.Create(ctx, img)
		return err
	})

	watched := &countingStore{Store: raw}
	svc := watchService(t, watched)
	stream := &watchStream{ctx: auth.NewContext(ctx, auth.Principal{Tenant: auth.DefaultTenant, Scopes: []auth.Scope{auth.ScopeRead}})}
	watchDone := make(chan error, 1)
	go func() { watchDone <- svc.WatchBatch(&pb.WatchBatchRequest{Id: "big"}, stream) }()

	parallel(t, n, func(i int) error {
		to := pb.ImageState_IMAGE_STATE_READY
		if i%10 == 9 {
			to = pb.ImageState_IMAGE_STATE_FAILED
		}
		rec, err := records.Mutate(ctx, raw, ids[i], func(img *pb.Image) error { img.State = to; return nil })
		if err != nil {
			return err
		}
		return events.Emit(ctx, e.events, rec.Image)
	})

	select {
	case err := <-watchDone:
		if err != nil {
			t.Fatalf("%d images: WatchBatch = %v, want the end of a complete batch", n, err)
		}
	case <-ctx.Done():
		t.Fatalf("%d images: the watch did not end", n)
	}
	var completed []*pb.WebhookEvent
	deadline := time.Now().Add(time.Minute)
	for len(completed) == 0 {
		for _, r := range rcv.requests() {
			if r.event.GetType() == webhooks.EventBatchCompleted {
				completed = append(completed, r.event)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d images: no batch.completed", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.waitQuiet(t)
	run := batchRun{images: n, dispatcher: counted.read.Load(), dispatcherCounters: counted.counters.Load(),
		watch: watched.read.Load(), polls: watched.counters.Load(), took: time.Since(start)}
	stream.mu.Lock()
	run.watchMessages = len(stream.sent)
	last := stream.sent[len(stream.sent)-1].GetBatch()
	stream.mu.Unlock()

	b := completed[0].GetBatch()
	ready, failed := int32(n-n/10), int32(n/10)
	want := fmt.Sprintf("total %d, READY %d, FAILED %d, PARTIALLY_FAILED", n, ready, failed)
	for what, got := range map[string]*pb.Batch{"batch.completed": b, "the watch's last message": last} {
		if g := fmt.Sprintf("total %d, READY %d, FAILED %d, %s", got.GetTotal(), got.GetCounts()[pb.ImageState_IMAGE_STATE_READY.String()],
			got.GetCounts()[pb.ImageState_IMAGE_STATE_FAILED.String()], got.GetState().String()[len("BATCH_STATE_"):]); g != want {
			t.Errorf("%d images: %s: %s, want %s", n, what, g, want)
		}
	}
	if len(completed) != 1 {
		t.Errorf("%d images: %d batch.completed requests, want 1", n, len(completed))
	}
	return run
}

// watchService is a status service on rs polling every 20 ms.
func watchService(t *testing.T, rs records.Store) *status.Service {
	t.Helper()
	signer, err := urlsign.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := status.DefaultConfig()
	cfg.PollInterval = pollInterval
	svc, err := status.New(cfg, status.Deps{Records: rs, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// parallel runs fn(0..n-1) on 4 goroutines, failing the test on the
// first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 4)
	)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
