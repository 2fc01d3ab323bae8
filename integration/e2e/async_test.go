package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/webhooks"
	"google.golang.org/protobuf/encoding/protojson"
)

// Two signing secrets: the server signs with both; each receiver below holds
// only one, as receivers do in the middle of a rotation.
// Standard Webhooks secrets: "whsec_" + base64 of the key (27 bytes).
const (
	secretNew = "whsec_Y3VycmVudC1zZWNyZXQtMDEyMzQ1Njc4OWFi"
	secretOld = "whsec_cHJldmlvdXMtc2VjcmV0LTAxMjM0NTY3ODlh"
)

// webhookConfig turns webhooks on with fast retries, loopback allowed.
func webhookConfig(dir string, global ...string) app.Config {
	cfg := testConfig(dir)
	cfg.WebhookSecrets = secretNew + "," + secretOld
	cfg.WebhookAllowNets = "127.0.0.0/8"
	cfg.WebhookURLs = strings.Join(global, ",")
	cfg.Webhooks.Backoff = 100 * time.Millisecond
	cfg.Webhooks.MaxBackoff = time.Second
	cfg.Webhooks.MaxAttempts = 4
	return cfg
}

// hit is one request a receiver got.
type hit struct {
	status     int
	deliveryID string
	event      *pb.WebhookEvent
	at         time.Time
}

// receiver is a webhook endpoint on loopback that verifies every
// signature (401 if bad) and answers 500 to its first failFirst requests.
type receiver struct {
	*httptest.Server
	secret    string
	failFirst int
	mu        sync.Mutex
	hits      []hit
	badSigs   atomic.Int32
}

func newReceiver(t *testing.T, secret string, failFirst int) *receiver {
	r := &receiver{secret: secret, failFirst: failFirst}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := webhooks.Verify([]string{r.secret}, req.Header, body); err != nil {
		r.badSigs.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	ev := &pb.WebhookEvent{}
	if err := protojson.Unmarshal(body, ev); err != nil || ev.GetId() != req.Header.Get("Imagepipe-Event-Id") {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	status := http.StatusOK
	if len(r.hits) < r.failFirst {
		status = http.StatusInternalServerError
	}
	r.hits = append(r.hits, hit{status: status, deliveryID: req.Header.Get("webhook-id"), event: ev, at: time.Now()})
	w.WriteHeader(status)
}

func (r *receiver) snapshot() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// accepted lists the events the receiver answered 2xx, waiting up to
// within for at least n of them.
func (r *receiver) accepted(t *testing.T, n int, within time.Duration) []hit {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok []hit
		for _, h := range r.snapshot() {
			if h.status == http.StatusOK {
				ok = append(ok, h)
			}
		}
		if len(ok) >= n || time.Now().After(deadline) {
			return ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) deliveries(t *testing.T, query string) []*pb.WebhookDelivery {
	t.Helper()
	r := s.get(t, "/v1/admin/webhook-deliveries?"+query)
	if r.code != http.StatusOK {
		t.Fatalf("list deliveries: %d %s", r.code, r.body)
	}
	var out pb.ListWebhookDeliveriesResponse
	if err := unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out.GetDeliveries()
}

func attemptCodes(d *pb.WebhookDelivery) []int32 {
	var codes []int32
	for _, a := range d.GetAttempts() {
		codes = append(codes, a.GetStatusCode())
	}
	return codes
}

// A callback that fails twice is retried with growing delays, delivered on
// the third attempt, logged with all three, and can be replayed; a global
// endpoint holding the other secret gets the same event once.
func TestWebhookRetriedLoggedAndReplayed(t *testing.T) {
	cb := newReceiver(t, secretOld, 2)
	global := newReceiver(t, secretNew, 0)
	s := start(t, webhookConfig(t.TempDir(), global.URL))

	r := s.post(t, "/v1/images?wait=30s&callback_url="+url.QueryEscape(cb.URL+"/hooks/imagepipe"), "image/jpeg",
		bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	img := r.image(t)
	if img.GetCallbackUrl() == "" || img.GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Fatalf("image %s callback %q", img.GetState(), img.GetCallbackUrl())
	}

	got := cb.accepted(t, 1, 20*time.Second)
	hits := cb.snapshot()
	if len(got) != 1 || len(hits) != 3 {
		t.Fatalf("callback: %d requests, %d accepted; want 3 requests (500, 500, 200), 1 accepted", len(hits), len(got))
	}
	for i, h := range hits {
		if h.event.GetId() != hits[0].event.GetId() || h.deliveryID != hits[0].deliveryID {
			t.Errorf("attempt %d: event %s delivery %s, want the same as the first", i+1, h.event.GetId(), h.deliveryID)
		}
	}
	// Each retry waits at least its backoff (100 ms, then 200 ms; a little
	// less for clock reading), and no more than scheduling on a loaded
	// machine adds: comparing the two measured delays with each other
	// would test the machine's load, not the backoff.
	if d1, d2 := hits[1].at.Sub(hits[0].at), hits[2].at.Sub(hits[1].at); d1 < 90*time.Millisecond || d2 < 190*time.Millisecond {
		t.Errorf("retry delays %s then %s: want >= the backoffs 100ms then 200ms", d1, d2)
	}
	ev := got[0].event
	if ev.GetType() != "image.ready" || ev.GetImage().GetId() != img.GetId() || ev.GetImage().GetState() != pb.ImageState_IMAGE_STATE_READY ||
		len(ev.GetImage().GetVariants()) != 3 {
		t.Errorf("event %s for %s (%s, %d variants), want image.ready for %s with 3 variants",
			ev.GetType(), ev.GetImage().GetId(), ev.GetImage().GetState(), len(ev.GetImage().GetVariants()), img.GetId())
	}
	if g := global.accepted(t, 1, 10*time.Second); len(g) != 1 || g[0].event.GetId() != ev.GetId() {
		t.Errorf("global endpoint accepted %d events, want the same event once", len(g))
	}
	if n := cb.badSigs.Load() + global.badSigs.Load(); n != 0 {
		t.Errorf("%d requests failed signature verification", n)
	}

	// The log holds both deliveries; the callback's with its three attempts.
	var logged *pb.WebhookDelivery
	all := s.deliveries(t, "image_id="+img.GetId())
	for _, d := range all {
		if strings.HasPrefix(d.GetUrl(), cb.URL) {
			logged = d
		}
	}
	if len(all) != 2 || logged == nil {
		t.Fatalf("%d deliveries for the image, want 2 (callback and global)", len(all))
	}
	if logged.GetState() != pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED || fmt.Sprint(attemptCodes(logged)) != "[500 500 200]" ||
		logged.GetId() != hits[0].deliveryID || logged.GetEventId() != ev.GetId() {
		t.Fatalf("logged delivery %s attempts %v id %s, want DELIVERED [500 500 200] id %s",
			logged.GetState(), attemptCodes(logged), logged.GetId(), hits[0].deliveryID)
	}
	if d := s.deliveries(t, "state=WEBHOOK_DELIVERY_STATE_FAILED"); len(d) != 0 {
		t.Errorf("%d FAILED deliveries, want none", len(d))
	}

	// Replay: the same event again, with a fresh signature.
	rr := s.post(t, "/v1/admin/webhook-deliveries/"+logged.GetId()+":replay", "application/json", strings.NewReader("{}"))
	if rr.code != http.StatusOK {
		t.Fatalf("replay: %d %s", rr.code, rr.body)
	}
	if again := cb.accepted(t, 2, 10*time.Second); len(again) != 2 || again[1].event.GetId() != ev.GetId() {
		t.Fatalf("after replay the callback accepted %d events, want the same event twice", len(again))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := s.deliveries(t, "image_id="+img.GetId())
		var cur *pb.WebhookDelivery
		for _, x := range d {
			if x.GetId() == logged.GetId() {
				cur = x
			}
		}
		if cur != nil && cur.GetReplays() == 1 && fmt.Sprint(attemptCodes(cur)) == "[500 500 200 200]" &&
			cur.GetState() == pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replayed delivery: %v", cur)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rr := s.post(t, "/v1/admin/webhook-deliveries/nope:replay", "application/json", strings.NewReader("{}")); rr.code != http.StatusNotFound {
		t.Errorf("replay of an unknown delivery: %d, want 404", rr.code)
	}
}

// Callback URLs into private networks, or on a server without webhooks,
// are refused before anything is stored.
func TestCallbackURLRefused(t *testing.T) {
	jpeg := imagetest.Fixture(t, "orient-1.jpg")
	s := start(t, webhookConfig(t.TempDir()))
	for _, tc := range []struct{ url, why string }{
		{"http://10.1.2.3/hook", "private"},
		{"http://169.254.169.254/latest/meta-data", "link-local (cloud metadata)"},
		{"http://[::1]:8080/hook", "IPv6 loopback, not in the allowed 127.0.0.0/8"},
		{"ftp://example.com/hook", "not http(s)"},
		{"http://user:pw@127.0.0.1/hook", "user info"},
	} {
		r := s.post(t, "/v1/images?callback_url="+url.QueryEscape(tc.url), "image/jpeg", bytes.NewReader(jpeg))
		e := r.errorBody(t)
		if r.code != http.StatusBadRequest || e.Error.Field != "callback_url" || e.Error.Reason != "CALLBACK_URL_REFUSED" {
			t.Errorf("%s (%s): %d %s field %q, want 400 CALLBACK_URL_REFUSED naming callback_url", tc.url, tc.why, r.code, e.Error.Reason, e.Error.Field)
		}
	}
	if n := countFiles(t, s.Cfg.DataDir+"/originals"); n != 0 {
		t.Errorf("%d originals stored by refused uploads", n)
	}
	plain := sharedServer(t) // no secret configured
	r := plain.post(t, "/v1/images?callback_url="+url.QueryEscape("https://example.com/hook"), "image/jpeg", bytes.NewReader(jpeg))
	if e := r.errorBody(t); r.code != http.StatusBadRequest || e.Error.Status != "FAILED_PRECONDITION" || e.Error.Field != "callback_url" {
		t.Errorf("callback without webhooks configured: %d %s %q", r.code, e.Error.Status, e.Error.Field)
	}
}

// 200 images in one multipart request, 15 of them truncated: the batch
// ends with exact counts, each image announces its end once, and
// batch.completed is sent exactly once.
func TestBatchOf200WithCorruptImages(t *testing.T) {
	const total, corrupt = 200, 15
	global := newReceiver(t, secretNew, 0)
	s := start(t, webhookConfig(t.TempDir(), global.URL))
	files := map[string][]byte{}
	for i := 0; i < total; i++ {
		photo := imagetest.Fixture(t, fmt.Sprintf("orient-%d.jpg", i%8+1))
		if i < corrupt {
			photo = photo[:len(photo)/2]
		}
		files[fmt.Sprintf("img-%03d.jpg", i)] = photo
	}
	body, ct := multipartBody(t, files)
	spec := url.QueryEscape(`{"variants":[{"name":"thumb","width":48,"height":48,"format":"FORMAT_JPEG"}]}`)
	r := s.post(t, fmt.Sprintf("/v1/images?batch_id=big-batch&batch_size=%d&wait=0&spec=%s", total, spec), ct, body)
	if r.code != http.StatusAccepted {
		t.Fatalf("batch upload: %d %.500s", r.code, r.body)
	}

	// Follow the batch over gRPC to its end.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream, err := pb.NewStatusServiceClient(s.Conn(t)).WatchBatch(ctx, &pb.WatchBatchRequest{Id: "big-batch"})
	if err != nil {
		t.Fatal(err)
	}
	var last *pb.Batch
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("watch batch: %v", err)
		}
		last = m.GetBatch()
	}
	if last.GetState() != pb.BatchState_BATCH_STATE_PARTIALLY_FAILED || last.GetTotal() != total || last.GetExpected() != total ||
		last.GetCounts()["IMAGE_STATE_READY"] != total-corrupt || last.GetCounts()["IMAGE_STATE_FAILED"] != corrupt {
		t.Fatalf("batch ended %s total %d counts %v, want PARTIALLY_FAILED %d {READY:%d FAILED:%d}",
			last.GetState(), last.GetTotal(), last.GetCounts(), total, total-corrupt, corrupt)
	}
	br := s.get(t, "/v1/batches/big-batch")
	var batch pb.Batch
	if err := unmarshal(br.body, &batch); err != nil {
		t.Fatal(err)
	}
	for _, im := range batch.GetImages() {
		bad := im.GetFileName() < fmt.Sprintf("img-%03d.jpg", corrupt)
		if bad != (im.GetState() == pb.ImageState_IMAGE_STATE_FAILED) || bad && im.GetError().GetCode() != "corrupt" {
			t.Errorf("%s: %s %v", im.GetFileName(), im.GetState(), im.GetError())
		}
	}

	// Webhooks: 200 image events and one batch.completed, none twice.
	events := global.accepted(t, total+1, time.Minute)
	seen := map[string]bool{}
	var completed []*pb.WebhookEvent
	types := map[string]int{}
	for _, h := range events {
		if seen[h.event.GetId()] {
			t.Errorf("event %s (%s) delivered twice", h.event.GetId(), h.event.GetType())
		}
		seen[h.event.GetId()] = true
		types[h.event.GetType()]++
		if h.event.GetType() == "batch.completed" {
			completed = append(completed, h.event)
		}
	}
	if types["image.ready"] != total-corrupt || types["image.failed"] != corrupt || len(completed) != 1 {
		t.Fatalf("events by type %v, want image.ready:%d image.failed:%d batch.completed:1", types, total-corrupt, corrupt)
	}
	if b := completed[0].GetBatch(); b.GetTotal() != total || b.GetCounts()["IMAGE_STATE_FAILED"] != corrupt || b.GetState() != pb.BatchState_BATCH_STATE_PARTIALLY_FAILED {
		t.Errorf("batch.completed carries %v", b)
	}
	time.Sleep(500 * time.Millisecond) // nothing more may come
	if n := len(global.snapshot()); n != total+1 {
		t.Errorf("%d requests in all, want %d", n, total+1)
	}
}

// Jobs that used up their attempts land in the dead-letter queue; an
// operator lists them, redrives one (its image is processed again and ends
// READY), purges the other, and retries that FAILED image directly.
func TestDeadLettersListRedrivePurgeRetry(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	fault := func(ctx context.Context, key string) error {
		if failing.Load() {
			return fmt.Errorf("simulated: variants store down")
		}
		return nil
	}
	cfg := testConfig(t.TempDir())
	cfg.Processor.MaxAttempts = 2
	s := start(t, cfg, apptest.FailVariants(fault))
	var ids []string
	for _, name := range []string{"orient-1.jpg", "orient-2.jpg"} {
		r := s.post(t, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, name)))
		if r.code != http.StatusAccepted {
			t.Fatalf("upload: %d %s", r.code, r.body)
		}
		ids = append(ids, r.image(t).GetId())
	}
	for _, id := range ids {
		if img := s.waitTerminal(t, id, 30*time.Second); img.GetState() != pb.ImageState_IMAGE_STATE_FAILED {
			t.Fatalf("%s: %s, want FAILED", id, img.GetState())
		}
	}
	var list pb.ListDeadLettersResponse
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := s.get(t, "/v1/admin/dead-letters")
		if r.code != http.StatusOK {
			t.Fatalf("list: %d %s", r.code, r.body)
		}
		if err := unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.GetDeadLetters()) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	msgOf := map[string]string{}
	for _, d := range list.GetDeadLetters() {
		if d.GetImage().GetState() != pb.ImageState_IMAGE_STATE_FAILED || d.GetImage().GetId() != d.GetImageId() {
			t.Errorf("dead letter %s: image %s %s", d.GetMessageId(), d.GetImageId(), d.GetImage().GetState())
		}
		msgOf[d.GetImageId()] = d.GetMessageId()
	}
	if len(msgOf) != 2 || msgOf[ids[0]] == "" || msgOf[ids[1]] == "" {
		t.Fatalf("dead letters for %v, want both images", msgOf)
	}

	for _, body := range []string{`{}`, `{"message_ids":["x"],"all":true}`} {
		r := s.post(t, "/v1/admin/dead-letters:redrive", "application/json", strings.NewReader(body))
		if e := r.errorBody(t); r.code != http.StatusBadRequest || e.Error.Field == "" {
			t.Errorf("redrive %s: %d field %q, want 400 naming a field", body, r.code, e.Error.Field)
		}
	}

	failing.Store(false)
	r := s.post(t, "/v1/admin/dead-letters:redrive", "application/json", strings.NewReader(`{"message_ids":["`+msgOf[ids[0]]+`","no-such-message"]}`))
	var redrive pb.RedriveDeadLettersResponse
	if r.code != http.StatusOK || unmarshal(r.body, &redrive) != nil {
		t.Fatalf("redrive: %d %s", r.code, r.body)
	}
	if fmt.Sprint(redrive.GetRetriedImageIds()) != fmt.Sprint([]string{ids[0]}) || fmt.Sprint(redrive.GetNotFound()) != "[no-such-message]" {
		t.Errorf("redrive answered %v", &redrive)
	}
	if img := s.waitTerminal(t, ids[0], 30*time.Second); img.GetState() != pb.ImageState_IMAGE_STATE_READY || img.GetRetries() != 1 || img.GetError() != nil {
		t.Errorf("redriven image: %s retries %d error %v, want READY after 1 retry", img.GetState(), img.GetRetries(), img.GetError())
	}

	r = s.post(t, "/v1/admin/dead-letters:purge", "application/json", strings.NewReader(`{"all":true}`))
	var purge pb.PurgeDeadLettersResponse
	if r.code != http.StatusOK || unmarshal(r.body, &purge) != nil || fmt.Sprint(purge.GetMessageIds()) != fmt.Sprint([]string{msgOf[ids[1]]}) {
		t.Fatalf("purge: %d %s", r.code, r.body)
	}
	if r := s.get(t, "/v1/admin/dead-letters"); !bytes.Contains(r.body, []byte(`"dead_letters":[]`)) && bytes.Contains(r.body, []byte(`message_id`)) {
		t.Errorf("dead letters after purge: %s", r.body)
	}

	r = s.post(t, "/v1/admin/images:retry", "application/json", strings.NewReader(`{"image_ids":["`+ids[1]+`","`+ids[0]+`"]}`))
	var retry pb.RetryImagesResponse
	if r.code != http.StatusOK || unmarshal(r.body, &retry) != nil {
		t.Fatalf("retry: %d %s", r.code, r.body)
	}
	if len(retry.GetImages()) != 1 || retry.GetImages()[0].GetId() != ids[1] || len(retry.GetSkipped()) != 1 || retry.GetSkipped()[0].GetReason() != "not_failed" {
		t.Errorf("retry answered %v", &retry)
	}
	if img := s.waitTerminal(t, ids[1], 30*time.Second); img.GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Errorf("retried image: %s", img.GetState())
	}
	var stats map[string]any
	_ = json.Unmarshal(s.get(t, "/v1/admin/dead-letters").body, &stats)
	if n, _ := stats["approximate_count"].(string); n != "" && n != "0" {
		t.Errorf("approximate_count %v after purge", stats["approximate_count"])
	}
}
