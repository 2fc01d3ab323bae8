package webhooks_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/services/webhooks"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Tenants' secrets: acme's pair (mid-rotation) and globex's one.
var (
	acmeNew, acmeOld = secret('A', 32), secret('a', 32)
	globexSecret     = secret('G', 32)
)

// byPath indexes requests by path; each path must have been hit once.
func byPath(t *testing.T, reqs []request) map[string]request {
	t.Helper()
	out := map[string]request{}
	for _, r := range reqs {
		if _, dup := out[r.path]; dup {
			t.Errorf("%s received twice", r.path)
		}
		out[r.path] = r
	}
	return out
}

// Each tenant's callbacks are signed with its own secrets only; the
// default tenant's and the global URL's with the configured ones. Every
// delivery records its tenant: a callback's is the image's, a global
// URL's the default tenant.
func TestDeliveriesSignedPerTenant(t *testing.T) {
	e := newEnv(t)
	e.setSecrets(t, "acme", acmeNew, acmeOld)
	e.setSecrets(t, "globex", globexSecret)
	rcv := newReceiver(t, always(http.StatusOK))
	cfg := testConfig()
	cfg.URLs = []string{rcv.url("/global")}
	e.start(t, cfg, acmeNew, acmeOld, globexSecret)
	e.addImage(t, &pb.Image{Id: "img-acme", Tenant: "acme", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/acme")}, true)
	e.addImage(t, &pb.Image{Id: "img-globex", Tenant: "globex", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/globex")}, true)
	e.addImage(t, &pb.Image{Id: "img-default", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/default")}, true)
	ds := e.waitSettled(t, deliveries.Filter{}, 6, delivered)
	e.waitQuiet(t)

	reqs := rcv.requests()
	if len(reqs) != 6 {
		t.Fatalf("receiver saw %d requests, want 6", len(reqs))
	}
	var globals int
	for _, r := range reqs {
		switch r.path {
		case "/global":
			globals++
			checkSigned(t, r)
		case "/default":
			checkSigned(t, r)
		case "/acme":
			if r.verify(acmeNew) != nil || r.verify(acmeOld) != nil || r.signatures != 2 {
				t.Errorf("acme's delivery: verify with its new, old secret: %v, %v (%d signatures); want both, 2", r.verify(acmeNew), r.verify(acmeOld), r.signatures)
			}
			if !errors.Is(r.verify(globexSecret), webhooks.ErrBadSignature) || !errors.Is(r.verify(newSecret, oldSecret), webhooks.ErrBadSignature) {
				t.Error("acme's delivery verifies with globex's or the configured secrets")
			}
		case "/globex":
			if r.verify(globexSecret) != nil || r.signatures != 1 {
				t.Errorf("globex's delivery: verify with its secret: %v (%d signatures)", r.verify(globexSecret), r.signatures)
			}
			if !errors.Is(r.verify(acmeNew, acmeOld), webhooks.ErrBadSignature) || !errors.Is(r.verify(newSecret, oldSecret), webhooks.ErrBadSignature) {
				t.Error("globex's delivery verifies with acme's or the configured secrets")
			}
		default:
			t.Errorf("unexpected request to %s", r.path)
		}
	}
	if globals != 3 {
		t.Errorf("%d requests to the global URL, want 3 (one per image)", globals)
	}

	wantTenant := map[string]string{"/acme": "acme", "/globex": "globex", "/default": "default", "/global": "default"}
	for _, d := range ds {
		if got, want := d.GetTenant(), wantTenant[d.GetUrl()[len(rcv.srv.URL):]]; got != want {
			t.Errorf("delivery to %s of %s: tenant %q, want %q", d.GetUrl(), d.GetImageId(), got, want)
		}
	}
	acme := e.list(t, deliveries.Filter{Tenant: "acme"})
	if len(acme) != 1 || acme[0].GetUrl() != rcv.url("/acme") {
		t.Errorf("acme's deliveries: %v; want only its callback's", acme)
	}
}

// A tenant without a secret gets no delivery: it fails at once, with the
// reason in its log, and nothing is sent; the global URL still gets the
// event. Once the tenant sets a secret, a replay delivers it signed.
func TestTenantWithoutSecretFails(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, always(http.StatusOK))
	cfg := testConfig()
	cfg.URLs = []string{rcv.url("/global")}
	e.start(t, cfg, acmeNew)
	img := e.addImage(t, &pb.Image{Id: "img-n", Tenant: "acme", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/cb")}, true)

	waitFor(t, "both deliveries to settle", func() bool {
		return len(e.list(t, deliveries.Filter{ImageID: img.Id, State: failed})) == 1 &&
			len(e.list(t, deliveries.Filter{ImageID: img.Id, State: delivered})) == 1
	})
	d := e.list(t, deliveries.Filter{ImageID: img.Id, State: failed})[0]
	if d.GetUrl() != rcv.url("/cb") || d.GetTenant() != "acme" {
		t.Fatalf("failed delivery to %s of tenant %q: want acme's callback", d.GetUrl(), d.GetTenant())
	}
	if a := d.GetAttempts(); len(a) != 1 || a[0].GetError() != "tenant has no webhook secret" || a[0].GetStatusCode() != 0 {
		t.Fatalf("attempts %v: want one, status 0, error %q", a, "tenant has no webhook secret")
	}
	if p := byPath(t, rcv.requests()); len(p) != 1 || p["/global"].path == "" {
		t.Fatalf("receiver saw %v; want only the global URL", p)
	}

	e.setSecrets(t, "acme", acmeNew)
	if _, err := webhooks.Replay(context.Background(), e.events, e.store, d.GetId()); err != nil {
		t.Fatal(err)
	}
	e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 2, delivered)
	r, ok := byPath(t, rcv.requests())["/cb"]
	if !ok || r.verify(acmeNew) != nil || !errors.Is(r.verify(newSecret, oldSecret), webhooks.ErrBadSignature) {
		t.Fatalf("replayed delivery: received %v, verify with acme's secret: %v; want signed with acme's only", ok, r.verify(acmeNew))
	}
}

// deleteImage leaves image id deleted, as the processor leaves it: state DELETED,
// delete_time set, its content and retry count gone.
func (e *env) deleteImage(t *testing.T, id string) *pb.Image {
	t.Helper()
	rec, err := records.Mutate(context.Background(), e.rs, id, func(img *pb.Image) error {
		img.State = pb.ImageState_IMAGE_STATE_DELETED
		img.DeleteTime = timestamppb.Now()
		img.Original, img.Variants, img.Spec, img.Error = nil, nil, nil, nil
		img.Preset, img.IdempotencyKey, img.Retries = "", "", 0
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec.Image
}

// A deleted image is announced once as image.deleted, to its callback
// (signed with its tenant's secret) and the global URL, with the
// tombstone: no content. Repeated messages about the deletion, one with
// the retry count the image had, name the same event and send nothing
// more.
func TestImageDeleted(t *testing.T) {
	e := newEnv(t)
	e.setSecrets(t, "acme", acmeNew)
	rcv := newReceiver(t, always(http.StatusOK))
	cfg := testConfig()
	cfg.URLs = []string{rcv.url("/global")}
	e.start(t, cfg, acmeNew)
	img := e.addImage(t, &pb.Image{
		Id: "img-d", Tenant: "acme", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: rcv.url("/cb"), Retries: 2,
		Preset:   "thumb",
		Original: &pb.OriginalInfo{FileName: "secret-plans.jpg"},
		Variants: []*pb.VariantInfo{{Name: "thumb", Url: "https://cdn.example/v/thumb.webp"}},
	}, true)
	e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 2, delivered)

	tomb := e.deleteImage(t, img.Id)
	e.emit(t, tomb)
	e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 4, delivered)
	// Repeats once the first is delivered (a repeat finding a delivery
	// in flight waits out its lease; TestRepeatedEventDeliversOnce).
	e.emit(t, tomb)
	old := events.Message{Image: &events.ImageEvent{ID: img.Id, State: pb.ImageState_IMAGE_STATE_DELETED.String(), Retries: 2}}
	if _, err := e.events.Send(context.Background(), old.Encode(), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitQuiet(t)
	ds := e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 4, delivered)

	wantID := webhooks.ImageEventID(img.Id, pb.ImageState_IMAGE_STATE_DELETED, 0)
	if wantID != webhooks.ImageEventID(img.Id, pb.ImageState_IMAGE_STATE_DELETED, 2) {
		t.Error("a deletion's event id depends on retries")
	}
	var n int
	for _, d := range ds {
		if d.GetEventType() != webhooks.EventImageDeleted {
			continue
		}
		n++
		if d.GetEventId() != wantID || len(d.GetAttempts()) != 1 {
			t.Errorf("image.deleted delivery to %s: event %s with %d attempts; want %s, 1", d.GetUrl(), d.GetEventId(), len(d.GetAttempts()), wantID)
		}
	}
	if n != 2 {
		t.Fatalf("%d image.deleted deliveries, want 2 (callback, global URL)", n)
	}
	var deletes []request
	for _, r := range rcv.requests() {
		if r.event.GetType() == webhooks.EventImageDeleted {
			deletes = append(deletes, r)
		}
	}
	p := byPath(t, deletes)
	if len(p) != 2 {
		t.Fatalf("image.deleted received at %v, want /cb and /global once each", p)
	}
	if r := p["/cb"]; r.verify(acmeNew) != nil {
		t.Errorf("image.deleted to acme's callback: %v, want signed with acme's secret", r.verify(acmeNew))
	}
	checkSigned(t, p["/global"])
	for _, r := range deletes {
		ev, got := r.event, r.event.GetImage()
		if ev.GetId() != wantID || ev.GetBatch() != nil || !ev.GetCreateTime().AsTime().Equal(tomb.GetDeleteTime().AsTime()) {
			t.Errorf("event %s (batch %v, time %v): want %s, no batch, the delete time", ev.GetId(), ev.GetBatch(), ev.GetCreateTime(), wantID)
		}
		if got.GetId() != img.Id || got.GetTenant() != "acme" || got.GetState() != pb.ImageState_IMAGE_STATE_DELETED ||
			got.GetCallbackUrl() != rcv.url("/cb") || got.GetDeleteTime() == nil {
			t.Errorf("tombstone %v: want id, tenant, state DELETED, callback, delete time", got)
		}
		if got.GetOriginal() != nil || len(got.GetVariants()) != 0 || got.GetPreset() != "" || got.GetSpec() != nil {
			t.Errorf("tombstone %v shows the image's content", got)
		}
	}
}

// Deletions never announce a batch: not by completing it, and not by
// changing the counts of a completed one so that a redelivered image
// event would announce it again. A batch completed by an image ending
// after another was deleted is announced once, counting the deleted one.
func TestDeletedImageAndBatch(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env, mk func(id string, s pb.ImageState) *pb.Image)
		// wantCompleted: the batch.completed event expected (nil: none).
		wantCompleted map[string]int32
	}{
		{"deleted after the batch completed", func(t *testing.T, e *env, mk func(string, pb.ImageState) *pb.Image) {
			a := e.addImage(t, mk("img-1", pb.ImageState_IMAGE_STATE_READY), false)
			b := e.addImage(t, mk("img-2", pb.ImageState_IMAGE_STATE_READY), false)
			// One at a time: a repeat finding a delivery in flight waits out
			// its lease (TestRepeatedEventDeliversOnce covers that).
			e.emit(t, a)
			e.waitSettled(t, deliveries.Filter{BatchID: "b1"}, 2, delivered) // image.ready, batch.completed
			e.emit(t, b)
			e.waitSettled(t, deliveries.Filter{BatchID: "b1"}, 3, delivered)
			e.emit(t, e.deleteImage(t, b.Id))
			e.waitSettled(t, deliveries.Filter{BatchID: "b1"}, 4, delivered)
			e.emit(t, a) // redelivered: the batch now counts 1 ready, 1 deleted
		}, map[string]int32{"IMAGE_STATE_READY": 2}},
		{"the last image deleted", func(t *testing.T, e *env, mk func(string, pb.ImageState) *pb.Image) {
			a := e.addImage(t, mk("img-1", pb.ImageState_IMAGE_STATE_READY), false)
			e.addImage(t, mk("img-2", pb.ImageState_IMAGE_STATE_PROCESSING), false)
			e.emit(t, a)
			e.waitSettled(t, deliveries.Filter{BatchID: "b1"}, 1, delivered)
			e.emit(t, e.deleteImage(t, "img-2"))
			e.waitSettled(t, deliveries.Filter{BatchID: "b1"}, 2, delivered)
			e.emit(t, a)
		}, nil},
		{"the last image ends after a deletion", func(t *testing.T, e *env, mk func(string, pb.ImageState) *pb.Image) {
			e.addImage(t, mk("img-1", pb.ImageState_IMAGE_STATE_PROCESSING), false)
			e.addImage(t, mk("img-2", pb.ImageState_IMAGE_STATE_PROCESSING), false)
			e.emit(t, e.deleteImage(t, "img-2"))
			e.waitSettled(t, deliveries.Filter{BatchID: "b1"}, 1, delivered)
			rec, err := records.Mutate(context.Background(), e.rs, "img-1", func(img *pb.Image) error {
				img.State = pb.ImageState_IMAGE_STATE_READY
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			e.emit(t, rec.Image)
			e.waitSettled(t, deliveries.Filter{BatchID: "b1"}, 3, delivered)
			e.emit(t, rec.Image)
		}, map[string]int32{"IMAGE_STATE_READY": 1, "IMAGE_STATE_DELETED": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.setSecrets(t, "acme", acmeNew)
			rcv := newReceiver(t, always(http.StatusOK))
			e.start(t, testConfig(), acmeNew)
			hook := rcv.url("/batch")
			mk := func(id string, s pb.ImageState) *pb.Image {
				return &pb.Image{Id: id, Tenant: "acme", BatchId: "b1", State: s, CallbackUrl: hook}
			}
			tt.run(t, e, mk)
			e.waitQuiet(t)

			var completed []*pb.WebhookDelivery
			for _, d := range e.list(t, deliveries.Filter{BatchID: "b1"}) {
				if d.GetState() != delivered || d.GetTenant() != "acme" {
					t.Errorf("delivery %s (%s): state %s, tenant %q; want delivered, acme", d.GetId(), d.GetEventType(), d.GetState(), d.GetTenant())
				}
				if d.GetEventType() == webhooks.EventBatchCompleted {
					completed = append(completed, d)
				}
			}
			var events []*pb.WebhookEvent
			for _, r := range rcv.requests() {
				if r.verify(acmeNew) != nil {
					t.Errorf("request %s: not signed with acme's secret", r.event.GetType())
				}
				if r.event.GetType() == webhooks.EventBatchCompleted {
					events = append(events, r.event)
				}
			}
			if tt.wantCompleted == nil {
				if len(completed) != 0 || len(events) != 0 {
					t.Fatalf("%d batch.completed deliveries, %d received; want none", len(completed), len(events))
				}
				return
			}
			if len(completed) != 1 || len(events) != 1 {
				t.Fatalf("%d batch.completed deliveries, %d received; want 1 each", len(completed), len(events))
			}
			b := events[0].GetBatch()
			counts := map[string]int32{}
			for k, v := range b.GetCounts() {
				if v != 0 {
					counts[k] = v
				}
			}
			if b.GetTotal() != 2 || b.GetTenant() != "acme" || b.GetState() != pb.BatchState_BATCH_STATE_READY || !maps.Equal(counts, tt.wantCompleted) {
				t.Fatalf("batch.completed %v: want 2 images of acme, READY, counts %v", b, tt.wantCompleted)
			}
		})
	}
}
