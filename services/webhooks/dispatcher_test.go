package webhooks_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries/sqlitedeliveries"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"github.com/imagepipe/imagepipe/internal/stores/tenants/sqlitetenants"
	"github.com/imagepipe/imagepipe/internal/testkit/syncbuf"
	"github.com/imagepipe/imagepipe/services/webhooks"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Signing secrets: the two the dispatcher signs the default tenant's
// deliveries with (configured, in the middle of a rotation) and one it
// does not hold.
var (
	newSecret   = secret('n', 32)
	oldSecret   = secret('o', 24)
	otherSecret = secret('x', 32)
)

var (
	pending   = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING
	delivered = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED
	failed    = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED
)

// env is a running dispatcher on real SQLite stores in a temp dir.
type env struct {
	events  *sqlitequeue.Queue
	store   deliveries.Store
	rs      records.Store
	tenants tenants.Store
	logs    *syncbuf.Buffer
	// metrics is the dispatcher's registry.
	metrics *prometheus.Registry
}

func testConfig() webhooks.Config {
	cfg := webhooks.DefaultConfig()
	cfg.Secrets = []string{newSecret, oldSecret}
	cfg.AllowNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.MaxAttempts = 3
	cfg.Backoff, cfg.MaxBackoff = 50*time.Millisecond, time.Second
	cfg.Timeout = 2 * time.Second
	cfg.Workers = 2
	return cfg
}

// newEnv opens the stores; start runs the dispatcher.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	events, err := sqlitequeue.New(filepath.Join(dir, "queue.db"), sqlitequeue.Options{Name: "events", PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Close() })
	status := filepath.Join(dir, "status.db")
	rs, err := sqliterecords.New(status)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	store, err := sqlitedeliveries.New(status)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ts, err := sqlitetenants.New(status)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	return &env{events: events, store: store, rs: rs, tenants: ts, logs: &syncbuf.Buffer{}, metrics: prometheus.NewPedanticRegistry()}
}

// deps are the dispatcher's dependencies on e's stores, the default
// tenant's secrets being cfg's.
func (e *env) deps(cfg webhooks.Config, log *slog.Logger) webhooks.Deps {
	return webhooks.Deps{Events: e.events, Deliveries: e.store, Records: e.rs,
		Secrets: webhooks.NewSecrets(e.tenants, cfg.Secrets), Log: log, Metrics: e.metrics}
}

// wantDeliveries waits (the counter moves just after the delivery log)
// until imagepipe_webhook_deliveries_total is want by outcome.
func (e *env) wantDeliveries(t *testing.T, want map[string]int) {
	t.Helper()
	want = maps.Clone(want)
	for _, o := range []string{"delivered", "retried", "failed"} {
		want[o] += 0
	}
	var got map[string]int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mfs, err := e.metrics.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]int{}
		for _, mf := range mfs {
			if mf.GetName() == "imagepipe_webhook_deliveries_total" {
				for _, m := range mf.GetMetric() {
					got[m.GetLabel()[0].GetValue()] = int(m.GetCounter().GetValue())
				}
			}
		}
		if maps.Equal(got, want) {
			return
		}
	}
	t.Errorf("imagepipe_webhook_deliveries_total = %v, want %v", got, want)
}

// setSecrets stores tenant's webhook secrets, newest first, as
// AdminService.RotateWebhookSecret does.
func (e *env) setSecrets(t *testing.T, tenant string, secrets ...string) {
	t.Helper()
	ctx := context.Background()
	cur, err := e.tenants.GetTenant(ctx, tenant)
	if err != nil && !errors.Is(err, tenants.ErrNotFound) {
		t.Fatal(err)
	}
	cur.Name, cur.WebhookSecrets = tenant, secrets
	if _, err := e.tenants.PutTenant(ctx, cur); err != nil {
		t.Fatal(err)
	}
}

// start runs a dispatcher until the test ends and then checks that no
// secret (cfg's, or any in also) appears in its logs.
func (e *env) start(t *testing.T, cfg webhooks.Config, also ...string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), e.logs), nil))
	d, err := webhooks.NewDispatcher(cfg, e.deps(cfg, log))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, s := range append(slices.Clone(cfg.Secrets), also...) {
			if strings.Contains(e.logs.String(), s) {
				t.Errorf("a signing secret appears in the logs")
			}
		}
	})
}

// request is what a receiver saw.
type request struct {
	at         time.Time
	path       string
	eventID    string
	deliveryID string // webhook-id
	timestamp  int64  // webhook-timestamp
	signatures int    // v1 signatures in webhook-signature
	event      *pb.WebhookEvent
	verifyErrs []error // against [new], [old], [other]
	userAgent  string
	header     http.Header
	body       []byte
}

// verify checks r's signature against secrets.
func (r request) verify(secrets ...string) error { return webhooks.Verify(secrets, r.header, r.body) }

// receiver is a loopback webhook endpoint answering status(n) to its n-th
// request (1-based).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []request
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		sig := req.Header.Get(webhooks.HeaderSignature)
		ts, tsErr := strconv.ParseInt(req.Header.Get(webhooks.HeaderTimestamp), 10, 64)
		got := request{
			at:         time.Now(),
			path:       req.URL.Path,
			eventID:    req.Header.Get(webhooks.HeaderEventID),
			deliveryID: req.Header.Get(webhooks.HeaderWebhookID),
			timestamp:  ts,
			signatures: strings.Count(" "+sig, " v1,"),
			userAgent:  req.Header.Get("User-Agent"),
			event:      &pb.WebhookEvent{},
			header:     req.Header.Clone(),
			body:       body,
		}
		for _, secrets := range [][]string{{newSecret}, {oldSecret}, {otherSecret}} {
			got.verifyErrs = append(got.verifyErrs, webhooks.Verify(secrets, req.Header, body))
		}
		if err := protojson.Unmarshal(body, got.event); err != nil || req.Header.Get("Content-Type") != "application/json" || tsErr != nil {
			t.Errorf("bad request: body %q (%v), content type %q, timestamp %v", body, err, req.Header.Get("Content-Type"), tsErr)
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, got)
		n := len(r.reqs)
		r.mu.Unlock()
		w.WriteHeader(r.status(n))
		_, _ = io.WriteString(w, strings.Repeat("x", 300))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *receiver) url(path string) string { return r.srv.URL + path }

func always(code int) func(int) int { return func(int) int { return code } }

// checkSigned asserts a request carries a signature per secret, stamped
// with the time it was sent, and verifies with either secret alone and
// not with a third.
func checkSigned(t *testing.T, r request) {
	t.Helper()
	if r.verifyErrs[0] != nil || r.verifyErrs[1] != nil || !errors.Is(r.verifyErrs[2], webhooks.ErrBadSignature) {
		t.Errorf("signature checks [new, old, other] = %v; want nil, nil, ErrBadSignature", r.verifyErrs)
	}
	if r.signatures != 2 {
		t.Errorf("%d v1 signatures, want 2", r.signatures)
	}
	if d := r.at.Unix() - r.timestamp; d < 0 || d > 2 {
		t.Errorf("webhook-timestamp %d, received at %d: want the attempt's time", r.timestamp, r.at.Unix())
	}
	if !strings.HasPrefix(r.deliveryID, "dlv_") {
		t.Errorf("webhook-id %q: want the delivery's id", r.deliveryID)
	}
	if r.userAgent != webhooks.UserAgent {
		t.Errorf("User-Agent %q, want %q", r.userAgent, webhooks.UserAgent)
	}
}

// addImage stores a terminal image record and emits its event.
func (e *env) addImage(t *testing.T, img *pb.Image, emit bool) *pb.Image {
	t.Helper()
	ctx := context.Background()
	if img.UpdateTime == nil {
		img.CreateTime, img.UpdateTime = timestamppb.Now(), timestamppb.Now()
	}
	if _, err := e.rs.Create(ctx, img); err != nil {
		t.Fatal(err)
	}
	if emit {
		e.emit(t, img)
	}
	return img
}

func (e *env) emit(t *testing.T, img *pb.Image) {
	t.Helper()
	if err := events.Emit(context.Background(), e.events, img); err != nil {
		t.Fatal(err)
	}
}

// list returns every delivery matching f.
func (e *env) list(t *testing.T, f deliveries.Filter) []*pb.WebhookDelivery {
	t.Helper()
	page, err := e.store.List(context.Background(), f, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []*pb.WebhookDelivery
	for _, r := range page.Records {
		out = append(out, r.Delivery)
	}
	return out
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSettled waits until every delivery matching f is in state and there
// are want of them.
func (e *env) waitSettled(t *testing.T, f deliveries.Filter, want int, state pb.WebhookDeliveryState) []*pb.WebhookDelivery {
	t.Helper()
	var ds []*pb.WebhookDelivery
	waitFor(t, "deliveries to settle", func() bool {
		ds = e.list(t, f)
		if len(ds) != want {
			return false
		}
		for _, d := range ds {
			if d.GetState() != state {
				return false
			}
		}
		return true
	})
	return ds
}

// waitQuiet waits until the events queue holds no message.
func (e *env) waitQuiet(t *testing.T) {
	t.Helper()
	waitFor(t, "the events queue to empty", func() bool {
		s, err := e.events.Stats(context.Background())
		return err == nil && s == (queue.Stats{})
	})
}

func statuses(d *pb.WebhookDelivery) []int32 {
	var out []int32
	for _, a := range d.GetAttempts() {
		out = append(out, a.GetStatusCode())
	}
	return out
}

// The dispatcher runs without configured secrets (tenants bring their
// own), but not without Deps.Secrets or with a bad config.
func TestNewDispatcher(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig()
	cfg.Secrets = nil
	if _, err := webhooks.NewDispatcher(cfg, e.deps(cfg, slog.Default())); err != nil {
		t.Fatalf("NewDispatcher without configured secrets = %v, want a dispatcher", err)
	}
	deps := e.deps(cfg, slog.Default())
	deps.Secrets = nil
	if _, err := webhooks.NewDispatcher(cfg, deps); err == nil {
		t.Fatal("NewDispatcher without Deps.Secrets: want an error")
	}
	cfg = testConfig()
	cfg.Workers = 0
	if _, err := webhooks.NewDispatcher(cfg, e.deps(cfg, slog.Default())); err == nil {
		t.Fatal("NewDispatcher with 0 workers: want an error")
	}
}

// (a) Two 500s, then 200: one DELIVERED delivery with three attempts, each
// request signed, with the same event id, spaced by a growing backoff.
func TestRetriesUntilDelivered(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	cfg := testConfig()
	cfg.MaxAttempts = 4
	cfg.URLs = []string{rcv.url("/hook")} // the same as the callback: one delivery
	e.start(t, cfg)
	img := e.addImage(t, &pb.Image{Id: "img-a", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/hook")}, true)

	ds := e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 1, delivered)
	d := ds[0]
	if got := statuses(d); !slices.Equal(got, []int32{500, 500, 200}) || d.GetRoundAttempts() != 3 {
		t.Fatalf("attempts %v (round %d), want [500 500 200] (round 3)", got, d.GetRoundAttempts())
	}
	if e := d.GetAttempts()[0].GetError(); !strings.HasPrefix(e, "HTTP 500: xxx") || len(e) > len("HTTP 500: ")+webhooks.MaxErrorBody {
		t.Errorf("attempt error %q: want HTTP 500 and at most %d bytes of body", e, webhooks.MaxErrorBody)
	}
	if d.GetAttempts()[2].GetError() != "" || d.GetNextAttemptTime() != nil || d.GetEventType() != webhooks.EventImageReady {
		t.Errorf("delivered: last error %q, next attempt %v, type %q", d.GetAttempts()[2].GetError(), d.GetNextAttemptTime(), d.GetEventType())
	}
	reqs := rcv.requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver saw %d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		checkSigned(t, r)
		if r.eventID != d.GetEventId() || r.event.GetId() != d.GetEventId() || r.deliveryID != d.GetId() {
			t.Errorf("request event %q (body %q), delivery %q; want %q, %q", r.eventID, r.event.GetId(), r.deliveryID, d.GetEventId(), d.GetId())
		}
		if r.event.GetType() != webhooks.EventImageReady || r.event.GetImage().GetId() != img.Id || r.event.GetBatch() != nil {
			t.Errorf("event %v: want image.ready of %s without batch", r.event, img.Id)
		}
	}
	e.wantDeliveries(t, map[string]int{"retried": 2, "delivered": 1})
	gap1, gap2 := reqs[1].at.Sub(reqs[0].at), reqs[2].at.Sub(reqs[1].at)
	if gap1 < cfg.Backoff || gap2 < 2*cfg.Backoff {
		t.Errorf("gaps %v, %v: want at least %v, %v", gap1, gap2, cfg.Backoff, 2*cfg.Backoff)
	}
}

// (b) Every attempt fails: FAILED after MaxAttempts. A replay starts a new
// round; the receiver now accepts, and the log keeps both rounds.
func TestFailedThenReplayed(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	code := http.StatusServiceUnavailable
	rcv := newReceiver(t, func(int) int { mu.Lock(); defer mu.Unlock(); return code })
	cfg := testConfig()
	e.start(t, cfg)
	img := e.addImage(t, &pb.Image{Id: "img-b", State: pb.ImageState_IMAGE_STATE_FAILED, CallbackUrl: rcv.url("/hook"),
		Error: &pb.ImageError{Code: "not_decodable", Message: "not an image"}}, true)

	d := e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 1, failed)[0]
	if got := statuses(d); !slices.Equal(got, []int32{503, 503, 503}) || d.GetRoundAttempts() != 3 || d.GetNextAttemptTime() != nil {
		t.Fatalf("attempts %v (round %d, next %v), want [503 503 503] (round 3, none)", got, d.GetRoundAttempts(), d.GetNextAttemptTime())
	}
	if d.GetEventType() != webhooks.EventImageFailed {
		t.Errorf("event type %q, want %q", d.GetEventType(), webhooks.EventImageFailed)
	}

	e.wantDeliveries(t, map[string]int{"retried": 2, "failed": 1})
	mu.Lock()
	code = http.StatusNoContent
	mu.Unlock()
	if _, err := webhooks.Replay(context.Background(), e.events, e.store, d.GetId()); err != nil {
		t.Fatal(err)
	}
	d = e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 1, delivered)[0]
	if got := statuses(d); !slices.Equal(got, []int32{503, 503, 503, 204}) || d.GetReplays() != 1 || d.GetRoundAttempts() != 1 {
		t.Fatalf("after replay: attempts %v, replays %d, round %d; want [503 503 503 204], 1, 1", got, d.GetReplays(), d.GetRoundAttempts())
	}
	e.wantDeliveries(t, map[string]int{"retried": 2, "failed": 1, "delivered": 1})
	reqs := rcv.requests()
	if len(reqs) != 4 {
		t.Fatalf("receiver saw %d requests, want 4", len(reqs))
	}
	for _, r := range reqs {
		checkSigned(t, r)
		if r.eventID != d.GetEventId() || r.event.GetType() != webhooks.EventImageFailed || r.deliveryID != d.GetId() {
			t.Errorf("request event %q type %q webhook-id %q; want %q image.failed %q (the same across retries and the replay)",
				r.eventID, r.event.GetType(), r.deliveryID, d.GetEventId(), d.GetId())
		}
	}
}

// (c) The same event emitted twice makes one delivery per endpoint and
// reaches each endpoint once. The receiver is slow, so the repeat finds
// the deliveries PENDING and queues them again while their first attempt
// is in flight, and idle workers receive those messages at once.
func TestRepeatedEventDeliversOnce(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, func(int) int { time.Sleep(300 * time.Millisecond); return http.StatusOK })
	cfg := testConfig()
	cfg.Workers = 6
	cfg.URLs = []string{rcv.url("/global")}
	img := e.addImage(t, &pb.Image{Id: "img-c", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/callback")}, true)
	e.emit(t, img)
	e.start(t, cfg)

	ds := e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 2, delivered)
	if ds[0].GetEventId() != ds[1].GetEventId() || ds[0].GetUrl() == ds[1].GetUrl() {
		t.Fatalf("deliveries %v: want one event to two URLs", ds)
	}
	time.Sleep(300 * time.Millisecond) // give a duplicate attempt the chance to show
	var paths []string
	for _, r := range rcv.requests() {
		checkSigned(t, r)
		paths = append(paths, r.path)
	}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"/callback", "/global"}) {
		t.Fatalf("receiver saw %v, want each endpoint once", paths)
	}
	for _, d := range e.list(t, deliveries.Filter{ImageID: img.Id}) {
		if len(d.GetAttempts()) != 1 {
			t.Errorf("delivery to %s has %d attempts, want 1", d.GetUrl(), len(d.GetAttempts()))
		}
	}
}

// A stale event (the image was retried since) and an undecodable message
// are dropped without a delivery.
func TestStaleAndBadMessagesDropped(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, always(http.StatusOK))
	e.start(t, testConfig())
	e.addImage(t, &pb.Image{Id: "img-s", State: pb.ImageState_IMAGE_STATE_READY, Retries: 1, CallbackUrl: rcv.url("/hook")}, false)
	stale := events.Message{Image: &events.ImageEvent{ID: "img-s", State: pb.ImageState_IMAGE_STATE_FAILED.String(), Retries: 0}}
	for _, body := range [][]byte{stale.Encode(), []byte("not json"), events.Message{Image: &events.ImageEvent{ID: "nobody", State: "IMAGE_STATE_READY"}}.Encode()} {
		if _, err := e.events.Send(context.Background(), body, queue.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.waitQuiet(t)
	if ds := e.list(t, deliveries.Filter{}); len(ds) != 0 || len(rcv.requests()) != 0 {
		t.Fatalf("%d deliveries, %d requests; want none", len(ds), len(rcv.requests()))
	}
}

// (d) A batch completes when its last image ends: one batch.completed
// event, with the counts, to the images' callback URL; a batch that
// expects more images does not complete.
func TestBatchCompleted(t *testing.T) {
	tests := []struct {
		name      string
		batchSize int32
		complete  bool
	}{
		{"all images in", 0, true},
		{"size 3 of 3", 3, true},
		{"size 4, 3 in", 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rcv := newReceiver(t, always(http.StatusOK))
			e.start(t, testConfig())
			hook := rcv.url("/batch")
			mk := func(id string, state pb.ImageState) *pb.Image {
				return &pb.Image{Id: id, BatchId: "batch-1", BatchSize: tt.batchSize, State: state, CallbackUrl: hook}
			}
			// All three are in the batch before any event is handled: without
			// a batch size, a batch is complete when the images it holds are.
			e.addImage(t, mk("img-3", pb.ImageState_IMAGE_STATE_PROCESSING), false)
			e.addImage(t, mk("img-1", pb.ImageState_IMAGE_STATE_READY), true)
			e.addImage(t, mk("img-2", pb.ImageState_IMAGE_STATE_FAILED), true)
			e.waitSettled(t, deliveries.Filter{BatchID: "batch-1"}, 2, delivered)
			e.waitQuiet(t)

			rec, err := records.Mutate(context.Background(), e.rs, "img-3", func(img *pb.Image) error {
				img.State = pb.ImageState_IMAGE_STATE_READY
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			e.emit(t, rec.Image)
			e.emit(t, rec.Image) // a repeat makes no second batch event
			want := 3
			if tt.complete {
				want = 4
			}
			ds := e.waitSettled(t, deliveries.Filter{BatchID: "batch-1"}, want, delivered)
			e.waitQuiet(t)

			batchDeliveries, batchEvents := batchCompletions(t, ds, rcv.requests(), tt.batchSize)
			if !tt.complete {
				if len(batchDeliveries) != 0 || len(batchEvents) != 0 {
					t.Fatalf("incomplete batch: %d batch deliveries, %d batch events; want none", len(batchDeliveries), len(batchEvents))
				}
				return
			}
			checkBatchCompleted(t, batchDeliveries, batchEvents, hook)
		})
	}
}

// batchCompletions picks out batch-1's batch.completed deliveries and the
// batch.completed events received, checking that every request is signed
// and every image event carries batch-1's summary without images.
func batchCompletions(t *testing.T, ds []*pb.WebhookDelivery, reqs []request, batchSize int32) ([]*pb.WebhookDelivery, []*pb.WebhookEvent) {
	t.Helper()
	var batchDeliveries []*pb.WebhookDelivery
	for _, d := range ds {
		if d.GetEventType() == webhooks.EventBatchCompleted {
			batchDeliveries = append(batchDeliveries, d)
		}
	}
	var batchEvents []*pb.WebhookEvent
	for _, r := range reqs {
		checkSigned(t, r)
		switch r.event.GetType() {
		case webhooks.EventBatchCompleted:
			batchEvents = append(batchEvents, r.event)
		default:
			if b := r.event.GetBatch(); b.GetId() != "batch-1" || len(b.GetImages()) != 0 || b.GetExpected() != batchSize {
				t.Errorf("image event's batch %v: want batch-1's summary without images", b)
			}
		}
	}
	return batchDeliveries, batchEvents
}

// checkBatchCompleted wants one batch.completed event for batch-1 (3
// images, 2 ready, 1 failed), delivered once to hook.
func checkBatchCompleted(t *testing.T, batchDeliveries []*pb.WebhookDelivery, batchEvents []*pb.WebhookEvent, hook string) {
	t.Helper()
	if len(batchDeliveries) != 1 || len(batchEvents) != 1 {
		t.Fatalf("%d batch deliveries, %d batch events; want 1 each", len(batchDeliveries), len(batchEvents))
	}
	b := batchEvents[0].GetBatch()
	if b.GetTotal() != 3 || b.GetCounts()["IMAGE_STATE_READY"] != 2 || b.GetCounts()["IMAGE_STATE_FAILED"] != 1 ||
		b.GetState() != pb.BatchState_BATCH_STATE_PARTIALLY_FAILED || len(b.GetImages()) != 0 || batchEvents[0].GetImage() != nil {
		t.Fatalf("batch.completed %v: want 3 images, 2 ready, 1 failed, PARTIALLY_FAILED, no image lines", batchEvents[0])
	}
	if d := batchDeliveries[0]; d.GetUrl() != hook || d.GetImageId() != "" || d.GetEventId() != batchEvents[0].GetId() {
		t.Fatalf("batch delivery %v: want one to %s for event %s", d, hook, batchEvents[0].GetId())
	}
}

// (e) A callback to an address that is not allowed fails at once, with no
// request made.
func TestRefusedAddressFails(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, always(http.StatusOK))
	cfg := testConfig()
	cfg.AllowNets = nil
	e.start(t, cfg)
	img := e.addImage(t, &pb.Image{Id: "img-e", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/hook")}, true)

	d := e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 1, failed)[0]
	if len(d.GetAttempts()) != 1 || d.GetAttempts()[0].GetError() != "address not allowed" || d.GetAttempts()[0].GetStatusCode() != 0 {
		t.Fatalf("attempts %v: want one, status 0, error %q", d.GetAttempts(), "address not allowed")
	}
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("receiver saw %d requests, want 0", n)
	}
}

// Sanity of the id helpers the dispatcher keys deliveries by.
func TestIDsAreStable(t *testing.T) {
	a := webhooks.ImageEventID("img", pb.ImageState_IMAGE_STATE_READY, 0)
	tests := []struct {
		name string
		id   string
		same bool
	}{
		{"same inputs", webhooks.ImageEventID("img", pb.ImageState_IMAGE_STATE_READY, 0), true},
		{"other state", webhooks.ImageEventID("img", pb.ImageState_IMAGE_STATE_FAILED, 0), false},
		{"retried", webhooks.ImageEventID("img", pb.ImageState_IMAGE_STATE_READY, 1), false},
		{"other image", webhooks.ImageEventID("img2", pb.ImageState_IMAGE_STATE_READY, 0), false},
	}
	for _, tt := range tests {
		if (tt.id == a) != tt.same {
			t.Errorf("%s: id %s vs %s, same = %v", tt.name, tt.id, a, tt.same)
		}
	}
	if webhooks.DeliveryID(a, "https://x/1") == webhooks.DeliveryID(a, "https://x/2") {
		t.Error("DeliveryID: two URLs share an id")
	}
}
