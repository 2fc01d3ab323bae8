package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries/sqlitedeliveries"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"github.com/imagepipe/imagepipe/internal/stores/tenants/sqlitetenants"
	"github.com/imagepipe/imagepipe/services/admin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// env is an AdminService on real SQLite stores.
type env struct {
	svc    *admin.Service
	rs     records.Store
	del    deliveries.Store
	jobs   *sqlitequeue.Queue
	dead   queue.Queue // nil without redrive
	events *sqlitequeue.Queue
	keys   tenants.Store
}

func newEnv(t *testing.T, maxReceive int) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{}
	var err error
	if e.rs, err = sqliterecords.New(filepath.Join(dir, "status.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.rs.Close() })
	if e.del, err = sqlitedeliveries.New(filepath.Join(dir, "status.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.del.Close() })
	if e.keys, err = sqlitetenants.New(filepath.Join(dir, "status.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.keys.Close() })
	qpath := filepath.Join(dir, "queue.db")
	if e.jobs, err = sqlitequeue.New(qpath, sqlitequeue.Options{Name: "jobs", MaxReceive: maxReceive, PollInterval: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.jobs.Close() })
	if e.events, err = sqlitequeue.New(qpath, sqlitequeue.Options{Name: "events", PollInterval: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.events.Close() })
	if maxReceive > 0 {
		if e.dead, err = e.jobs.DeadLetterQueue(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.dead.Close() })
	}
	e.svc = admin.New(admin.Deps{Jobs: e.jobs, Records: e.rs, Deliveries: e.del, Events: e.events, Tenants: e.keys, Log: slog.New(slog.DiscardHandler)})
	return e
}

// asOperator is the test's context calling as the operator: an admin of
// tenant default.
func asOperator(t *testing.T) context.Context {
	return auth.NewContext(t.Context(), auth.Principal{Tenant: auth.DefaultTenant, Scopes: []auth.Scope{auth.ScopeAdmin}})
}

// image creates a record in state and returns its id.
func (e *env) image(t *testing.T, state pb.ImageState, batch string) string {
	t.Helper()
	id := jobs.NewID()
	img := &pb.Image{Id: id, BatchId: batch, State: state, Original: &pb.OriginalInfo{FileName: "x.png"}}
	if state == pb.ImageState_IMAGE_STATE_FAILED {
		img.Attempts = 3
		img.Error = &pb.ImageError{Code: "processing_failed", Message: "processing failed after 3 attempts"}
	}
	if _, err := e.rs.Create(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	return id
}

// deadLetter puts body straight into the dead-letter queue.
func (e *env) deadLetter(t *testing.T, body []byte) string {
	t.Helper()
	id, err := e.dead.Send(t.Context(), body, queue.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) get(t *testing.T, id string) *pb.Image {
	t.Helper()
	rec, err := e.rs.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Image
}

// drain receives and deletes every message of q and returns the bodies,
// sorted.
func drain(t *testing.T, q queue.Queue) []string {
	t.Helper()
	var bodies []string
	for {
		msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{MaxMessages: queue.MaxBatch, WaitTime: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			sort.Strings(bodies)
			return bodies
		}
		for _, m := range msgs {
			bodies = append(bodies, string(m.Body))
			if err := q.Delete(t.Context(), m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func job(id string) string { return string(jobs.Job{ImageID: id}.Encode()) }

// wantError checks err's gRPC code, apperr reason and field.
func wantError(t *testing.T, err error, code codes.Code, reason, field string) {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok {
		t.Fatalf("error %v, want a %s status", err, code)
	}
	gotReason, gotField := apperr.Info(st)
	if st.Code() != code || gotReason != reason || gotField != field {
		t.Fatalf("error %s %s field %q (%q), want %s %s field %q", st.Code(), gotReason, gotField, st.Message(), code, reason, field)
	}
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func TestInvalidRequests(t *testing.T) {
	e := newEnv(t, 3)
	bad := "not-an-id"
	tooMany := make([]string, admin.MaxPageSize+1)
	for i := range tooMany {
		tooMany[i] = jobs.NewID()
	}
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"list: negative max", func() error {
			_, err := e.svc.ListDeadLetters(asOperator(t), &pb.ListDeadLettersRequest{MaxMessages: -1})
			return err
		}, "max_messages"},
		{"list: max too large", func() error {
			_, err := e.svc.ListDeadLetters(asOperator(t), &pb.ListDeadLettersRequest{MaxMessages: 1001})
			return err
		}, "max_messages"},
		{"redrive: nothing selected", func() error {
			_, err := e.svc.RedriveDeadLetters(asOperator(t), &pb.RedriveDeadLettersRequest{})
			return err
		}, "message_ids"},
		{"redrive: ids and all", func() error {
			_, err := e.svc.RedriveDeadLetters(asOperator(t), &pb.RedriveDeadLettersRequest{MessageIds: []string{"m"}, All: true})
			return err
		}, "message_ids"},
		{"purge: nothing selected", func() error {
			_, err := e.svc.PurgeDeadLetters(asOperator(t), &pb.PurgeDeadLettersRequest{})
			return err
		}, "message_ids"},
		{"purge: ids and all", func() error {
			_, err := e.svc.PurgeDeadLetters(asOperator(t), &pb.PurgeDeadLettersRequest{MessageIds: []string{"m"}, All: true})
			return err
		}, "message_ids"},
		{"retry: nothing", func() error {
			_, err := e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{})
			return err
		}, "image_ids"},
		{"retry: ids and batch", func() error {
			_, err := e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{ImageIds: []string{jobs.NewID()}, BatchId: "b"})
			return err
		}, "batch_id"},
		{"retry: too many ids", func() error {
			_, err := e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{ImageIds: tooMany})
			return err
		}, "image_ids"},
		{"retry: bad id", func() error {
			_, err := e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{ImageIds: []string{jobs.NewID(), bad}})
			return err
		}, "image_ids[1]"},
		{"retry: bad batch", func() error {
			_, err := e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{BatchId: "a/b"})
			return err
		}, "batch_id"},
		{"deliveries: page size", func() error {
			_, err := e.svc.ListWebhookDeliveries(asOperator(t), &pb.ListWebhookDeliveriesRequest{PageSize: 1001})
			return err
		}, "page_size"},
		{"deliveries: bad token", func() error {
			_, err := e.svc.ListWebhookDeliveries(asOperator(t), &pb.ListWebhookDeliveriesRequest{PageToken: "garbage"})
			return err
		}, "page_token"},
		{"deliveries: unknown state", func() error {
			_, err := e.svc.ListWebhookDeliveries(asOperator(t), &pb.ListWebhookDeliveriesRequest{State: 99})
			return err
		}, "state"},
		{"deliveries: bad image id", func() error {
			_, err := e.svc.ListWebhookDeliveries(asOperator(t), &pb.ListWebhookDeliveriesRequest{ImageId: bad})
			return err
		}, "image_id"},
		{"deliveries: bad batch id", func() error {
			_, err := e.svc.ListWebhookDeliveries(asOperator(t), &pb.ListWebhookDeliveriesRequest{BatchId: "a b"})
			return err
		}, "batch_id"},
		{"replay: no id", func() error {
			_, err := e.svc.ReplayWebhookDelivery(asOperator(t), &pb.ReplayWebhookDeliveryRequest{})
			return err
		}, "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, c.call(), codes.InvalidArgument, apperr.ReasonInvalidField, c.field)
		})
	}
}

func TestNoDeadLetterQueue(t *testing.T) {
	e := newEnv(t, 0)
	_, err := e.svc.ListDeadLetters(asOperator(t), &pb.ListDeadLettersRequest{})
	wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "")
	if st, _ := status.FromError(err); !strings.Contains(st.Message(), "dead-letter queue") {
		t.Errorf("message %q does not say what is missing", st.Message())
	}
	_, err = e.svc.RedriveDeadLetters(asOperator(t), &pb.RedriveDeadLettersRequest{All: true})
	wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "")
	_, err = e.svc.PurgeDeadLetters(asOperator(t), &pb.PurgeDeadLettersRequest{All: true})
	wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "")
}

func TestWebhooksOff(t *testing.T) {
	e := newEnv(t, 3)
	svc := admin.New(admin.Deps{Jobs: e.jobs, Records: e.rs, Log: slog.New(slog.DiscardHandler)})
	_, err := svc.ListWebhookDeliveries(asOperator(t), &pb.ListWebhookDeliveriesRequest{})
	wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "")
	_, err = svc.ReplayWebhookDelivery(asOperator(t), &pb.ReplayWebhookDeliveryRequest{Id: "dlv-1"})
	wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "")
	// The rest of the service works without them.
	if _, err := svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{ImageIds: []string{jobs.NewID()}}); err != nil {
		t.Errorf("RetryImages without webhooks: %v", err)
	}
}

func TestListDeadLetters(t *testing.T) {
	e := newEnv(t, 3)
	failed := e.image(t, pb.ImageState_IMAGE_STATE_FAILED, "")
	missing := jobs.NewID()
	mFailed := e.deadLetter(t, []byte(job(failed)))
	mMissing := e.deadLetter(t, []byte(job(missing)))
	mJunk := e.deadLetter(t, []byte("junk \xff"))

	for i := range 2 { // listing leaves the messages where they are
		resp, err := e.svc.ListDeadLetters(asOperator(t), &pb.ListDeadLettersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetApproximateCount() != 3 || len(resp.GetDeadLetters()) != 3 {
			t.Fatalf("listing %d: %d dead letters, approximate count %d; want 3, 3", i+1, len(resp.GetDeadLetters()), resp.GetApproximateCount())
		}
		byID := map[string]*pb.DeadLetter{}
		for _, dl := range resp.GetDeadLetters() {
			byID[dl.GetMessageId()] = dl
			if dl.GetReceiveCount() != int32(i+1) || dl.GetSentTime().AsTime().IsZero() {
				t.Errorf("dead letter %s: receive count %d, sent %v", dl.GetMessageId(), dl.GetReceiveCount(), dl.GetSentTime())
			}
		}
		if dl := byID[mFailed]; dl.GetImageId() != failed || dl.GetImage().GetState() != pb.ImageState_IMAGE_STATE_FAILED || dl.GetBody() != "" {
			t.Errorf("FAILED image's job: %v", dl)
		}
		if dl := byID[mMissing]; dl.GetImageId() != missing || dl.GetImage() != nil {
			t.Errorf("unknown image's job: %v", dl)
		}
		if dl := byID[mJunk]; dl.GetImageId() != "" || dl.GetBody() != "junk \uFFFD" {
			t.Errorf("not a job: %v", dl)
		}
	}
	resp, err := e.svc.ListDeadLetters(asOperator(t), &pb.ListDeadLettersRequest{MaxMessages: 2})
	if err != nil || len(resp.GetDeadLetters()) != 2 || resp.GetApproximateCount() != 3 {
		t.Fatalf("max 2: %v, %v; want 2 dead letters of 3", resp, err)
	}
}

// TestRedriveDeadLetters: a job that used up its attempts reaches the DLQ
// through the queue's redrive; redriving it retries its FAILED image.
// Jobs of other images are moved as they are.
func TestRedriveDeadLetters(t *testing.T) {
	e := newEnv(t, 3)
	ctx := asOperator(t)
	failed := e.image(t, pb.ImageState_IMAGE_STATE_FAILED, "")
	if _, err := e.jobs.Send(ctx, []byte(job(failed)), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	for range 3 { // three attempts, each released
		msgs, err := e.jobs.Receive(ctx, queue.ReceiveOptions{WaitTime: time.Second})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("receive: %v, %v", msgs, err)
		}
		if err := e.jobs.ChangeVisibility(ctx, msgs[0].ReceiptHandle, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := drain(t, e.jobs); len(got) != 0 { // the fourth receive dead-letters it
		t.Fatalf("job still on the queue: %v", got)
	}
	list, err := e.svc.ListDeadLetters(ctx, &pb.ListDeadLettersRequest{})
	if err != nil || len(list.GetDeadLetters()) != 1 || list.GetDeadLetters()[0].GetImageId() != failed {
		t.Fatalf("ListDeadLetters = %v, %v; want the failed image's job", list, err)
	}
	mFailed := list.GetDeadLetters()[0].GetMessageId()

	ready := e.image(t, pb.ImageState_IMAGE_STATE_READY, "")
	mReady := e.deadLetter(t, []byte(job(ready)))
	mJunk := e.deadLetter(t, []byte("junk"))

	resp, err := e.svc.RedriveDeadLetters(ctx, &pb.RedriveDeadLettersRequest{MessageIds: []string{mFailed, mReady, "no-such-message"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := sorted(resp.GetMessageIds()...); !slices.Equal(got, sorted(mFailed, mReady)) ||
		!slices.Equal(resp.GetNotFound(), []string{"no-such-message"}) || !slices.Equal(resp.GetRetriedImageIds(), []string{failed}) {
		t.Fatalf("Redrive = %v; want messages %s %s, not found [no-such-message], retried [%s]", resp, mFailed, mReady, failed)
	}
	img := e.get(t, failed)
	if img.GetState() != pb.ImageState_IMAGE_STATE_QUEUED || img.GetAttempts() != 0 || img.GetError() != nil || img.GetRetries() != 1 {
		t.Errorf("retried image: %v; want QUEUED, attempts and error cleared, 1 retry", img)
	}
	if got := e.get(t, ready); got.GetState() != pb.ImageState_IMAGE_STATE_READY || got.GetRetries() != 0 {
		t.Errorf("READY image changed: %v", got)
	}
	if got, want := drain(t, e.jobs), sorted(job(failed), job(ready)); !slices.Equal(got, want) {
		t.Fatalf("job queue holds %v, want %v", got, want)
	}

	resp, err = e.svc.RedriveDeadLetters(ctx, &pb.RedriveDeadLettersRequest{All: true})
	if err != nil || !slices.Equal(resp.GetMessageIds(), []string{mJunk}) || len(resp.GetRetriedImageIds()) != 0 || len(resp.GetNotFound()) != 0 {
		t.Fatalf("Redrive(all) = %v, %v; want the junk message moved", resp, err)
	}
	if got := drain(t, e.jobs); !slices.Equal(got, []string{"junk"}) {
		t.Fatalf("job queue holds %v, want [junk]", got)
	}
	if list, err := e.svc.ListDeadLetters(ctx, &pb.ListDeadLettersRequest{}); err != nil || len(list.GetDeadLetters()) != 0 || list.GetApproximateCount() != 0 {
		t.Fatalf("DLQ after redriving all: %v, %v", list, err)
	}
}

func TestPurgeDeadLetters(t *testing.T) {
	e := newEnv(t, 3)
	var ids []string
	for i := range 12 {
		ids = append(ids, e.deadLetter(t, []byte(fmt.Sprint("junk ", i))))
	}
	resp, err := e.svc.PurgeDeadLetters(asOperator(t), &pb.PurgeDeadLettersRequest{MessageIds: []string{ids[4], "gone"}})
	if err != nil || !slices.Equal(resp.GetMessageIds(), ids[4:5]) || !slices.Equal(resp.GetNotFound(), []string{"gone"}) {
		t.Fatalf("Purge(one) = %v, %v", resp, err)
	}
	resp, err = e.svc.PurgeDeadLetters(asOperator(t), &pb.PurgeDeadLettersRequest{All: true})
	if err != nil || len(resp.GetMessageIds()) != 11 || slices.Contains(resp.GetMessageIds(), ids[4]) {
		t.Fatalf("Purge(all) = %v, %v; want the 11 others", resp, err)
	}
	if list, err := e.svc.ListDeadLetters(asOperator(t), &pb.ListDeadLettersRequest{}); err != nil || len(list.GetDeadLetters()) != 0 {
		t.Fatalf("DLQ after purging all: %v, %v", list, err)
	}
	if got := drain(t, e.jobs); len(got) != 0 {
		t.Errorf("purging queued %v", got)
	}
}

func TestRetryImages(t *testing.T) {
	e := newEnv(t, 3)
	failed := e.image(t, pb.ImageState_IMAGE_STATE_FAILED, "")
	ready := e.image(t, pb.ImageState_IMAGE_STATE_READY, "")
	missing := jobs.NewID()
	resp, err := e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{ImageIds: []string{failed, ready, missing, failed}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetImages()) != 1 || resp.GetImages()[0].GetId() != failed || resp.GetImages()[0].GetState() != pb.ImageState_IMAGE_STATE_QUEUED {
		t.Errorf("retried %v, want %s QUEUED", resp.GetImages(), failed)
	}
	var skipped []string
	for _, s := range resp.GetSkipped() {
		skipped = append(skipped, s.GetImageId()+" "+s.GetReason())
	}
	if want := []string{ready + " not_failed", missing + " not_found"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %v, want %v", skipped, want)
	}
	if got := drain(t, e.jobs); !slices.Equal(got, []string{job(failed)}) {
		t.Errorf("job queue holds %v, want one job for %s", got, failed)
	}

	f1 := e.image(t, pb.ImageState_IMAGE_STATE_FAILED, "b1")
	f2 := e.image(t, pb.ImageState_IMAGE_STATE_FAILED, "b1")
	e.image(t, pb.ImageState_IMAGE_STATE_READY, "b1")
	e.image(t, pb.ImageState_IMAGE_STATE_FAILED, "b2")
	resp, err = e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{BatchId: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range resp.GetImages() {
		got = append(got, img.GetId())
	}
	if !slices.Equal(sorted(got...), sorted(f1, f2)) || len(resp.GetSkipped()) != 0 {
		t.Errorf("batch retry: %v; want %s and %s", resp, f1, f2)
	}
	if got := drain(t, e.jobs); !slices.Equal(got, sorted(job(f1), job(f2))) {
		t.Errorf("job queue holds %v", got)
	}

	_, err = e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{BatchId: "nobatch"})
	wantError(t, err, codes.NotFound, apperr.ReasonNotFound, "")
}

func TestWebhookDeliveries(t *testing.T) {
	e := newEnv(t, 3)
	img := jobs.NewID()
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	mk := func(i int, state pb.WebhookDeliveryState, image, batch string) string {
		ct := timestamppb.New(base.Add(time.Duration(i) * time.Second))
		d := &pb.WebhookDelivery{
			Id: fmt.Sprintf("dlv-%d", i), EventId: fmt.Sprintf("evt-%d", i), EventType: "image.ready",
			Url: "https://hooks.example.com/x", ImageId: image, BatchId: batch, State: state,
			CreateTime: ct, UpdateTime: ct, Payload: `{}`,
		}
		if _, err := e.del.Create(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		return d.Id
	}
	d1 := mk(1, pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED, img, "")
	d2 := mk(2, pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED, jobs.NewID(), "")
	d3 := mk(3, pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING, "", "b1")

	ids := func(resp *pb.ListWebhookDeliveriesResponse) []string {
		var out []string
		for _, d := range resp.GetDeliveries() {
			out = append(out, d.GetId())
		}
		return out
	}
	cases := []struct {
		name string
		req  *pb.ListWebhookDeliveriesRequest
		want []string
	}{
		{"all, newest first", &pb.ListWebhookDeliveriesRequest{}, []string{d3, d2, d1}},
		{"failed", &pb.ListWebhookDeliveriesRequest{State: pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED}, []string{d1}},
		{"by image", &pb.ListWebhookDeliveriesRequest{ImageId: img}, []string{d1}},
		{"by batch", &pb.ListWebhookDeliveriesRequest{BatchId: "b1"}, []string{d3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := e.svc.ListWebhookDeliveries(asOperator(t), c.req)
			if err != nil || !slices.Equal(ids(resp), c.want) || resp.GetNextPageToken() != "" {
				t.Fatalf("List = %v, %v; want %v on one page", ids(resp), err, c.want)
			}
		})
	}
	page1, err := e.svc.ListWebhookDeliveries(asOperator(t), &pb.ListWebhookDeliveriesRequest{PageSize: 2})
	if err != nil || !slices.Equal(ids(page1), []string{d3, d2}) || page1.GetNextPageToken() == "" {
		t.Fatalf("page 1 = %v, %v", page1, err)
	}
	page2, err := e.svc.ListWebhookDeliveries(asOperator(t), &pb.ListWebhookDeliveriesRequest{PageSize: 2, PageToken: page1.GetNextPageToken()})
	if err != nil || !slices.Equal(ids(page2), []string{d1}) || page2.GetNextPageToken() != "" {
		t.Fatalf("page 2 = %v, %v", page2, err)
	}

	replayed, err := e.svc.ReplayWebhookDelivery(asOperator(t), &pb.ReplayWebhookDeliveryRequest{Id: d1})
	if err != nil {
		t.Fatal(err)
	}
	if d := replayed.GetDelivery(); d.GetState() != pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING || d.GetReplays() != 1 {
		t.Errorf("replayed delivery: %v; want PENDING, 1 replay", d)
	}
	if got := drain(t, e.events); !slices.Equal(got, []string{string(events.Message{Delivery: d1}.Encode())}) {
		t.Errorf("events queue holds %v, want the replay of %s", got, d1)
	}
	_, err = e.svc.ReplayWebhookDelivery(asOperator(t), &pb.ReplayWebhookDeliveryRequest{Id: "dlv-nope"})
	wantError(t, err, codes.NotFound, apperr.ReasonNotFound, "")
}
