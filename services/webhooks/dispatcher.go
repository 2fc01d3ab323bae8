package webhooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/consumer"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Event types.
const (
	EventImageReady     = "image.ready"
	EventImageFailed    = "image.failed"
	EventImageDeleted   = "image.deleted"
	EventBatchCompleted = "batch.completed"
)

// Request headers besides the Standard Webhooks ones (sign.go); see the
// WebhookEvent proto for the contract.
const (
	// HeaderEventID is the event's id, the same at every endpoint (the
	// webhook-id header is the delivery's: one event, one endpoint).
	HeaderEventID = "Imagepipe-Event-Id"
	// UserAgent of every webhook request.
	UserAgent = "imagepipe-webhooks/1"
)

// MaxErrorBody is how much of a failed response's body an attempt keeps.
const MaxErrorBody = 200

// ErrNoSecret: signing or verifying needs a secret.
var ErrNoSecret = errors.New("webhooks: no signing secret configured")

const (
	pollWait = 20 * time.Second
	// dueSlack: a delivery due this soon is attempted now rather than put
	// back.
	dueSlack = 10 * time.Millisecond
)

// Dispatcher turns event messages into deliveries and attempts them.
//
// Every delivery has one message on the events queue while it is PENDING,
// hidden until its next attempt is due (a failed attempt sets the message's
// visibility to the backoff). Before a POST the dispatcher claims the
// delivery by moving its next_attempt_time past the attempt (a lease, by
// conditional write), so a duplicate message — a repeated event, a replay
// of a PENDING delivery, a crash between create and send — never makes two
// attempts at once or one early: a message that finds its delivery not yet
// due hides itself until it is.
type Dispatcher struct {
	cfg        Config
	events     queue.Queue
	store      deliveries.Store
	records    records.Store
	secrets    *Secrets
	signURLs   func(proto.Message)
	log        *slog.Logger
	client     *http.Client
	visibility time.Duration
	// consumer receives the events queue's messages and acks and delays
	// them.
	consumer *consumer.Consumer
	metrics  *metrics
	// queueStats reports the events queue's counts; nil without Metrics.
	queueStats *queue.Collector
}

// Deps are what a dispatcher works with.
type Deps struct {
	// Events is the events queue: the processor's image events, and a
	// message per PENDING delivery.
	Events queue.Queue
	// Deliveries is the delivery log.
	Deliveries deliveries.Store
	// Records is the status store, for the images and batches events are
	// about.
	Records records.Store
	// Secrets sign each delivery with its tenant's secrets:
	// NewSecrets(the tenant store, cfg.Secrets). Required.
	Secrets *Secrets
	// SignURLs, if set, gives the private images in an event signed
	// variant URLs before it is stored and sent (urlsign.Signer.SignImages
	// with the record TTL), so a receiver can fetch what it is told about.
	SignURLs func(proto.Message)
	Log      *slog.Logger
	// Metrics, if set, gets the dispatcher's metrics (metrics.go) and the
	// events queue's counts.
	Metrics prometheus.Registerer
}

// NewDispatcher returns a dispatcher; Run starts its workers. Callback
// URLs and global URLs alike are dialled through a Guard allowing
// cfg.AllowNets. It runs without configured secrets (cfg.Enabled false):
// then only tenants with secrets of their own get webhooks.
func NewDispatcher(cfg Config, deps Deps) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Secrets == nil {
		return nil, errors.New("webhooks: the dispatcher needs Deps.Secrets")
	}
	// One POST, plus the store writes around it.
	visibility := min(2*cfg.Timeout+10*time.Second, queue.MaxVisibilityTimeout)
	c := consumer.New(deps.Events, consumer.Config{
		Workers:    cfg.Workers,
		PollWait:   pollWait,
		Visibility: visibility,
		Grace:      cfg.Timeout + 5*time.Second,
		Log:        deps.Log,
	})
	m := newMetrics()
	qs, err := m.register(deps.Metrics, deps.Events)
	if err != nil {
		return nil, fmt.Errorf("webhooks: metrics: %w", err)
	}
	return &Dispatcher{
		metrics:    m,
		queueStats: qs,
		cfg:        cfg,
		events:     deps.Events,
		store:      deps.Deliveries,
		records:    deps.Records,
		secrets:    deps.Secrets,
		signURLs:   deps.SignURLs,
		log:        deps.Log,
		client:     NewGuard(cfg.AllowNets).Client(cfg.Timeout),
		visibility: visibility,
		consumer:   c,
	}, nil
}

// Run runs cfg.Workers workers until ctx ends. Workers then stop
// receiving; messages in flight get the request timeout and a few seconds
// to finish and are then left to redelivery.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.consumer.Run(ctx, d.Handle)
	if d.queueStats != nil {
		_ = d.queueStats.Close()
	}
	return nil
}

// Handle processes one events queue message: deletes it when done, leaves
// it for redelivery when a store is unavailable, or hides it until its
// delivery's next attempt.
func (d *Dispatcher) Handle(ctx context.Context, m queue.Message) {
	msg, err := events.Decode(m.Body)
	if err != nil {
		d.log.Error("dropping undecodable event message", "message", m.ID, "err", err)
		d.consumer.Ack(ctx, m)
		return
	}
	if msg.Image != nil {
		// The deliveries' messages carry the image event's trace
		// context on (publish), for their attempts to link to.
		d.handleImage(events.TraceContext(ctx, m.Attributes), m, msg.Image)
		return
	}
	d.handleDelivery(ctx, m, msg.Delivery)
}

// hashID derives a stable id from parts.
func hashID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// ImageEventID is the id of the event for an image reaching state after
// retries operator retries. A deletion is final and happens once: its id
// ignores retries (the tombstone need not keep them), so every message
// about one deletion names one event.
func ImageEventID(imageID string, state pb.ImageState, retries int32) string {
	if state == pb.ImageState_IMAGE_STATE_DELETED {
		retries = 0
	}
	return hashID("evt_", "image", imageID, state.String(), strconv.Itoa(int(retries)))
}

// BatchEventID is the id of a batch.completed event: a batch that
// completes again with other counts (after a retry) is a new event.
func BatchEventID(b *pb.Batch) string {
	return hashID("evt_", "batch", b.GetId(), strconv.Itoa(int(b.GetTotal())),
		strconv.Itoa(int(b.GetCounts()[pb.ImageState_IMAGE_STATE_READY.String()])),
		strconv.Itoa(int(b.GetCounts()[pb.ImageState_IMAGE_STATE_FAILED.String()])))
}

// DeliveryID is the id of the delivery of an event to url.
func DeliveryID(eventID, url string) string { return hashID("dlv_", eventID, url) }

// handleImage turns an image event into deliveries: image.ready or
// image.failed (and batch.completed for a batch it completes), or
// image.deleted; it acks the message once they are queued.
func (d *Dispatcher) handleImage(ctx context.Context, m queue.Message, ev *events.ImageEvent) {
	log := d.log.With("image", ev.ID, "state", ev.State)
	img, ok := d.eventImage(ctx, m, log, ev)
	if !ok {
		return
	}
	tenant := records.Tenant(img)
	log = log.With("tenant", tenant)
	if img.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
		d.handleDeleted(ctx, m, log, img)
		return
	}
	var batch *records.BatchCounter
	if img.GetBatchId() != "" {
		var err error
		batch, err = d.records.GetBatch(ctx, tenant, img.GetBatchId())
		switch {
		case errors.Is(err, records.ErrNotFound):
			log.Warn("image of a batch without a counter; its event goes without the batch", "batch", img.GetBatchId())
		case err != nil:
			log.Error("status store unavailable; event will be redelivered", "err", err)
			return
		}
	}
	if err := d.publish(ctx, imageEvent(img, batch), d.targets(tenant, img.GetCallbackUrl()), img.GetId(), img.GetBatchId()); err != nil {
		log.Error("could not queue the event's deliveries; event will be redelivered", "err", err)
		return
	}
	if !d.announceBatch(ctx, log, tenant, img, batch) {
		return
	}
	d.consumer.Ack(ctx, m)
}

// eventImage reads the image ev is about, and reports false (settling the
// message) when it is unknown, unreadable, or has moved on since ev.
func (d *Dispatcher) eventImage(ctx context.Context, m queue.Message, log *slog.Logger, ev *events.ImageEvent) (*pb.Image, bool) {
	rec, err := d.records.Get(ctx, ev.ID)
	switch {
	case errors.Is(err, records.ErrNotFound):
		log.Warn("event for an unknown image; dropping it")
		d.consumer.Ack(ctx, m)
		return nil, false
	case err != nil:
		log.Error("status store unavailable; event will be redelivered", "err", err)
		return nil, false
	}
	img := rec.Image
	deleted := img.GetState() == pb.ImageState_IMAGE_STATE_DELETED
	// A deletion is final, whatever retries its event carries.
	if !records.Terminal(img.GetState()) || img.GetState().String() != ev.State || (!deleted && img.GetRetries() != ev.Retries) {
		log.Info("image moved on since the event; a later event covers it", "now", img.GetState(), "retries", img.GetRetries())
		d.consumer.Ack(ctx, m)
		return nil, false
	}
	return img, true
}

// imageEvent is the image.ready or image.failed event of img, with its
// batch's summary (if batch is not nil).
func imageEvent(img *pb.Image, batch *records.BatchCounter) *pb.WebhookEvent {
	typ := EventImageReady
	if img.GetState() == pb.ImageState_IMAGE_STATE_FAILED {
		typ = EventImageFailed
	}
	ev := &pb.WebhookEvent{
		Id:         ImageEventID(img.GetId(), img.GetState(), img.GetRetries()),
		Type:       typ,
		CreateTime: img.GetUpdateTime(),
		Image:      img,
	}
	if batch != nil {
		ev.Batch = batch.Summary()
	}
	return ev
}

// announceBatch queues batch.completed for a complete batch (unless a
// deletion changed it last), to its images' callback URLs and the global
// URLs; false when the deliveries could not be queued. It reads nothing
// but the batch's counter c, unless the batch has more callback URLs than
// the counter keeps: then the event of the image whose change completed the
// batch (and only it) reads the batch's images for them.
func (d *Dispatcher) announceBatch(ctx context.Context, log *slog.Logger, tenant string, img *pb.Image, c *records.BatchCounter) bool {
	if c == nil || !c.Complete() {
		return true
	}
	summary := c.Summary()
	if c.LastState == pb.ImageState_IMAGE_STATE_DELETED {
		// Complete, but a deletion changed it last: the batch either
		// completed before it (announced then, with that time's
		// counts, unless the image events that completed it came
		// after the deletion) or was completed by it, and deletions
		// announce no batch.
		log.Info("batch changed last by a deletion; no batch.completed", "batch", summary.GetId())
		return true
	}
	hooks := c.CallbackURLs
	if c.MoreCallbackURLs {
		if c.LastImage != img.GetId() {
			// Only the event of the image that completed the batch
			// reads it whole, so that events handled after the batch
			// completed cost no more than before.
			return true
		}
		var err error
		if hooks, err = d.callbackURLs(ctx, tenant, summary.GetId()); err != nil {
			log.Error("status store unavailable; event will be redelivered", "batch", summary.GetId(), "err", err)
			return false
		}
	}
	created := img.GetUpdateTime()
	if c.LastImage != img.GetId() {
		created = timestamppb.New(c.UpdateTime)
	}
	bev := &pb.WebhookEvent{Id: BatchEventID(summary), Type: EventBatchCompleted, CreateTime: created, Batch: summary}
	if err := d.publish(ctx, bev, d.targets(tenant, hooks...), "", summary.GetId()); err != nil {
		log.Error("could not queue the batch event's deliveries; event will be redelivered", "batch", summary.GetId(), "err", err)
		return false
	}
	log.Info("batch completed", "batch", summary.GetId(), "batch_state", summary.GetState())
	return true
}

// callbackURLs reads a batch's images for their callback URLs: for a batch
// with more than its counter keeps.
func (d *Dispatcher) callbackURLs(ctx context.Context, tenant, batchID string) ([]string, error) {
	var hooks []string
	err := records.EachInBatch(ctx, d.records, tenant, batchID, func(r *records.Record) {
		hooks = append(hooks, r.Image.GetCallbackUrl())
	})
	return hooks, err
}

// handleDeleted announces a deleted image as image.deleted, to its
// callback and the global URLs, with its tombstone as payload. It reads
// no batch: a deletion neither completes a batch nor completes it again.
func (d *Dispatcher) handleDeleted(ctx context.Context, m queue.Message, log *slog.Logger, img *pb.Image) {
	event := &pb.WebhookEvent{
		Id:         ImageEventID(img.GetId(), img.GetState(), 0),
		Type:       EventImageDeleted,
		CreateTime: deleteTime(img),
		Image:      tombstone(img),
	}
	if err := d.publish(ctx, event, d.targets(records.Tenant(img), img.GetCallbackUrl()), img.GetId(), img.GetBatchId()); err != nil {
		log.Error("could not queue the event's deliveries; event will be redelivered", "err", err)
		return
	}
	d.consumer.Ack(ctx, m)
}

// tombstone is the image an image.deleted event carries: which image it
// was (id, tenant, batch, callback) and when it was made and deleted;
// nothing of its content (no original, variants, spec or error).
func tombstone(img *pb.Image) *pb.Image {
	return &pb.Image{
		Id:          img.GetId(),
		Tenant:      img.GetTenant(),
		BatchId:     img.GetBatchId(),
		State:       pb.ImageState_IMAGE_STATE_DELETED,
		CallbackUrl: img.GetCallbackUrl(),
		CreateTime:  img.GetCreateTime(),
		UpdateTime:  img.GetUpdateTime(),
		DeleteTime:  deleteTime(img),
	}
}

// deleteTime is when img was deleted: its delete_time, or its last update
// for a tombstone without one.
func deleteTime(img *pb.Image) *timestamppb.Timestamp {
	if t := img.GetDeleteTime(); t != nil {
		return t
	}
	return img.GetUpdateTime()
}

// target is an endpoint and the tenant that owns its delivery.
type target struct{ url, tenant string }

// targets lists the endpoints of an event of tenant's: its callbacks
// (blanks and repeats dropped), owned by tenant, then the global URLs.
// Those are the operator's, so their deliveries belong to the default
// tenant — its delivery log, its secrets — whatever tenant the event is
// about; a callback that is also a global URL gets the global URL's one
// delivery (the endpoint is the operator's and verifies its secrets).
func (d *Dispatcher) targets(tenant string, callbacks ...string) []target {
	var out []target
	seen := map[string]bool{}
	for _, u := range d.cfg.URLs {
		seen[u] = true
	}
	for _, u := range callbacks {
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, target{url: u, tenant: tenant})
		}
	}
	for _, u := range endpoints(d.cfg.URLs) {
		out = append(out, target{url: u, tenant: DefaultTenant})
	}
	return out
}

// endpoints joins URL lists, dropping blanks and repeats, keeping order.
func endpoints(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, u := range l {
			if u != "" && !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	return out
}

// publish creates one delivery of event per target and queues a message
// for each. A delivery that exists already (a repeated event) is queued
// again only while PENDING, in case the first time stopped between create
// and send; the lease makes the extra message harmless.
func (d *Dispatcher) publish(ctx context.Context, event *pb.WebhookEvent, targets []target, imageID, batchID string) error {
	if d.signURLs != nil {
		d.signURLs(event)
	}
	payload, err := protojson.Marshal(event)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	now := timestamppb.Now()
	for _, t := range targets {
		id := DeliveryID(event.GetId(), t.url)
		_, err := d.store.Create(ctx, &pb.WebhookDelivery{
			Id:              id,
			EventId:         event.GetId(),
			EventType:       event.GetType(),
			Url:             t.url,
			ImageId:         imageID,
			BatchId:         batchID,
			Tenant:          t.tenant,
			State:           pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING,
			CreateTime:      now,
			UpdateTime:      now,
			NextAttemptTime: now,
			Payload:         string(payload),
		})
		if errors.Is(err, deliveries.ErrExists) {
			cur, gerr := d.store.Get(ctx, id)
			if gerr != nil {
				return gerr
			}
			if cur.Delivery.GetState() != pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING {
				continue
			}
		} else if err != nil {
			return err
		}
		if err := events.Send(ctx, d.events, events.Message{Delivery: id}); err != nil {
			return err
		}
	}
	return nil
}

// errNotDue: the delivery is not due; its message is put back until it is.
var errNotDue = errors.New("not due")

func (d *Dispatcher) handleDelivery(ctx context.Context, m queue.Message, id string) {
	log := d.log.With("delivery", id)
	dl, ok := d.claim(ctx, log, m, id)
	if !ok {
		return
	}
	log = log.With("event", dl.GetEventId(), "host", hostOf(dl.GetUrl()), "tenant", deliveryTenant(dl))
	ctx, span := startDeliver(ctx, trace.SpanContextFromContext(events.TraceContext(context.Background(), m.Attributes)), dl)
	log = withTrace(log, span)
	var (
		attempt *pb.WebhookAttempt
		outcome string
	)
	round := dl.GetRoundAttempts() + 1
	defer func() { endDeliver(span, attempt, round, outcome) }()

	secrets, err := d.secrets.For(ctx, deliveryTenant(dl))
	if err != nil {
		// The lease keeps the delivery until the message comes back.
		log.Error("tenant store unavailable; message will be redelivered", "err", err)
		attempt = &pb.WebhookAttempt{Error: "tenant store unavailable"}
		return
	}
	var permanent bool
	if len(secrets) == 0 {
		// Never sent unsigned. Permanent: a replay sends it once the
		// tenant has set a secret.
		attempt, permanent = &pb.WebhookAttempt{Time: timestamppb.Now(), Error: ErrTenantNoSecret.Error(), Duration: durationpb.New(0)}, true
	} else {
		attempt, permanent = d.post(ctx, dl, secrets)
	}
	if ctx.Err() != nil {
		log.Warn("attempt cut short by shutdown; message will be redelivered")
		return
	}
	dl, backoff, decided, err := d.record(ctx, id, attempt, permanent)
	if err != nil {
		log.Error("could not record the attempt; message will be redelivered", "status", attempt.GetStatusCode(), "err", err)
		return
	}
	outcome = outcomeRetried
	switch dl.GetState() {
	case pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED:
		outcome = outcomeDelivered
		log.Info("webhook delivered", "status", attempt.GetStatusCode(), "attempt", dl.GetRoundAttempts())
		d.consumer.Ack(ctx, m)
	case pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED:
		outcome = outcomeFailed
		log.Warn("webhook failed; giving up", "status", attempt.GetStatusCode(), "error", attempt.GetError(), "attempt", dl.GetRoundAttempts())
		d.consumer.Ack(ctx, m)
	default:
		log.Info("webhook attempt failed; retrying", "status", attempt.GetStatusCode(), "error", attempt.GetError(), "attempt", dl.GetRoundAttempts(), "in", backoff)
		d.consumer.Delay(ctx, m, backoff)
	}
	if !decided {
		outcome = "" // settled meanwhile by another worker
		return
	}
	d.metrics.deliveries.WithLabelValues(outcome).Inc()
}

// claim leases a due PENDING delivery for one attempt by moving its next
// attempt time past the attempt. When there is nothing to attempt now (the
// delivery is settled, not due, unknown, or the log is down) it settles
// the message and reports false.
func (d *Dispatcher) claim(ctx context.Context, log *slog.Logger, m queue.Message, id string) (*pb.WebhookDelivery, bool) {
	var wait time.Duration
	claimed, err := deliveries.Mutate(ctx, d.store, id, func(dl *pb.WebhookDelivery) error {
		if dl.GetState() != pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING {
			return deliveries.ErrNoChange
		}
		now := time.Now()
		if next := dl.GetNextAttemptTime(); next != nil {
			if wait = next.AsTime().Sub(now); wait > dueSlack {
				return errNotDue
			}
		}
		dl.NextAttemptTime = timestamppb.New(now.Add(d.visibility)) // the lease
		return nil
	})
	switch {
	case errors.Is(err, deliveries.ErrNoChange):
		d.consumer.Ack(ctx, m) // delivered or failed already
		return nil, false
	case errors.Is(err, errNotDue):
		d.consumer.Delay(ctx, m, wait)
		return nil, false
	case errors.Is(err, deliveries.ErrNotFound):
		log.Warn("message for an unknown delivery; dropping it")
		d.consumer.Ack(ctx, m)
		return nil, false
	case err != nil:
		log.Error("delivery log unavailable; message will be redelivered", "err", err)
		return nil, false
	}
	return claimed.Delivery, true
}

// record adds an attempt to the delivery's log and settles it: DELIVERED,
// FAILED (a permanent failure, or the round's attempts used up), or due
// again after the returned backoff. decided is false when the delivery
// was settled meanwhile (a lease that ran out): the attempt is only
// logged.
func (d *Dispatcher) record(ctx context.Context, id string, attempt *pb.WebhookAttempt, permanent bool) (_ *pb.WebhookDelivery, _ time.Duration, decided bool, _ error) {
	var backoff time.Duration
	rec, err := deliveries.Mutate(ctx, d.store, id, func(dl *pb.WebhookDelivery) error {
		now := timestamppb.Now()
		dl.Attempts = append(dl.Attempts, attempt)
		dl.RoundAttempts++
		dl.UpdateTime = now
		decided = dl.GetState() == pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING
		if !decided {
			return nil // settled meanwhile (a lease that ran out): keep the log only
		}
		switch {
		case attempt.GetError() == "":
			dl.State, dl.NextAttemptTime = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED, nil
		case permanent || int(dl.GetRoundAttempts()) >= d.cfg.MaxAttempts:
			dl.State, dl.NextAttemptTime = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED, nil
		default:
			backoff = d.backoff(int(dl.GetRoundAttempts()))
			dl.NextAttemptTime = timestamppb.New(now.AsTime().Add(backoff))
		}
		return nil
	})
	if err != nil {
		return nil, 0, false, err
	}
	return rec.Delivery, backoff, decided, nil
}

// backoff is the delay after the n-th failed attempt of a round:
// cfg.Backoff doubling per attempt, at most cfg.MaxBackoff.
func (d *Dispatcher) backoff(n int) time.Duration {
	return consumer.Backoff(d.cfg.Backoff, d.cfg.MaxBackoff, n)
}

// deliveryTenant is the tenant that owns dl: the default tenant for a
// delivery made before deliveries recorded one.
func deliveryTenant(dl *pb.WebhookDelivery) string {
	if t := dl.GetTenant(); t != "" {
		return t
	}
	return DefaultTenant
}

// post makes one attempt, signed with secrets (the delivery's tenant's,
// newest first). permanent reports a failure no retry can fix (the
// address is refused, the URL does not parse).
func (d *Dispatcher) post(ctx context.Context, dl *pb.WebhookDelivery, secrets []string) (a *pb.WebhookAttempt, permanent bool) {
	start := time.Now()
	a = &pb.WebhookAttempt{Time: timestamppb.New(start)}
	defer func() { a.Duration = durationpb.New(time.Since(start)) }()
	body := []byte(dl.GetPayload())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.GetUrl(), bytes.NewReader(body))
	if err != nil {
		a.Error = "invalid URL"
		return a, true
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderEventID, dl.GetEventId())
	// webhook-id is the delivery's id: the same on every retry and
	// replay, so a receiver deduplicates by it.
	if err := SetHeaders(req.Header, secrets, dl.GetId(), start, body); err != nil {
		// A stored secret is invalid: not the receiver's fault, and
		// fixable (the tenant can rotate it): retried like a failed
		// request. The error never holds a secret.
		a.Error = "cannot sign: " + err.Error()
		return a, false
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrAddressNotAllowed) {
			a.Error = ErrAddressNotAllowed.Error()
			return a, true
		}
		a.Error = shortError(err)
		return a, false
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	a.StatusCode = int32(resp.StatusCode)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Error = fmt.Sprintf("HTTP %d: redirects are not followed", resp.StatusCode)
	default:
		a.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
		if s := printable(head); s != "" {
			a.Error += ": " + s
		}
	}
	return a, false
}

// shortError describes a failed request without the URL (its query may
// hold the receiver's token).
func shortError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if len(s) > MaxErrorBody {
		s = s[:MaxErrorBody]
	}
	return strings.ToValidUTF8(s, "")
}

// printable makes a response body excerpt safe for a log line.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
