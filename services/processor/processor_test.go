package processor_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/fsblob"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"github.com/imagepipe/imagepipe/internal/testkit/faultblob"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/processor"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type rig struct {
	dir                 string
	cfg                 processor.Config
	proc                *processor.Processor
	svc                 *processor.Service
	originals, variants blob.Store
	q, dlq              queue.Queue
	// events is the webhooks' events queue the processor announces to.
	events queue.Queue
	rs     records.Store
	// metrics is the processor's registry.
	metrics *prometheus.Registry
}

// newRig builds a processor and its service on real embedded stores: max
// attempts 2, so the queue's max receive is 3; configure changes the
// config first.
func newRig(t *testing.T, fault faultblob.Fault, configure ...func(*processor.Config)) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{dir: dir, metrics: prometheus.NewPedanticRegistry()}
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	r.originals, err = fsblob.New(filepath.Join(dir, "originals"))
	must(err)
	r.variants, err = fsblob.New(filepath.Join(dir, "variants"))
	must(err)
	opts := sqlitequeue.DefaultOptions()
	opts.Visibility, opts.MaxReceive = time.Second, 3
	r.q, err = sqlitequeue.New(filepath.Join(dir, "queue.db"), opts)
	must(err)
	dlqOpts := sqlitequeue.DefaultOptions()
	dlqOpts.Name, dlqOpts.MaxReceive = opts.Name+sqlitequeue.DLQSuffix, 0
	r.dlq, err = sqlitequeue.New(filepath.Join(dir, "queue.db"), dlqOpts)
	must(err)
	evOpts := sqlitequeue.DefaultOptions()
	evOpts.Name, evOpts.MaxReceive = "events", 0
	r.events, err = sqlitequeue.New(filepath.Join(dir, "queue.db"), evOpts)
	must(err)
	r.rs, err = sqliterecords.New(filepath.Join(dir, "status.db"))
	must(err)
	r.cfg = processor.DefaultConfig()
	r.cfg.MaxAttempts, r.cfg.Visibility, r.cfg.RetryBackoff, r.cfg.PollWait = 2, 2*time.Second, 0, 100*time.Millisecond
	for _, f := range configure {
		f(&r.cfg)
	}
	variants := r.variants
	if fault != nil {
		variants = faultblob.Wrap(r.variants, fault)
	}
	r.proc, err = processor.New(r.cfg, processor.Deps{Presets: spec.Builtin(), Originals: r.originals, Variants: variants,
		Queue: r.q, Events: r.events, Records: r.rs, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: r.metrics})
	must(err)
	r.svc = r.proc.Service()
	t.Cleanup(func() { r.q.Close(); r.dlq.Close(); r.events.Close(); r.rs.Close() })
	return r
}

// submit stores a fixture as an original and queues its job.
func (r *rig) submit(t *testing.T, fixture string) string {
	t.Helper()
	ctx := context.Background()
	id := jobs.NewID()
	if _, err := r.originals.Put(ctx, id, bytes.NewReader(imagetest.Fixture(t, fixture)), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, sp, _ := spec.Builtin().Resolve("", "", nil)
	img := &pb.Image{Id: id, Spec: sp, Preset: "default", CreateTime: timestamppb.Now()}
	if _, err := jobs.Submit(ctx, r.rs, r.q, img); err != nil {
		t.Fatal(err)
	}
	return id
}

func (r *rig) receive(t *testing.T) queue.Message {
	t.Helper()
	msgs, err := r.q.Receive(context.Background(), queue.ReceiveOptions{WaitTime: 5 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	return msgs[0]
}

func (r *rig) state(t *testing.T, id string) *pb.Image {
	t.Helper()
	rec, err := r.rs.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Image
}

// The last attempt dies without a word (crash, kill -9): the extra delivery
// marks the image FAILED and the job reaches the dead-letter queue, so no
// image stays PROCESSING forever.
func TestLastAttemptCutShortEndsFailedInDLQ(t *testing.T) {
	r := newRig(t, nil)
	id := r.submit(t, "dandelion.jpg")
	ctx := context.Background()
	for attempt := 1; attempt <= 2; attempt++ {
		m := r.receive(t) // a worker takes it, marks nothing, and dies
		if m.ReceiveCount != attempt {
			t.Fatalf("receive count %d, want %d", m.ReceiveCount, attempt)
		}
		if _, err := records.Mutate(ctx, r.rs, id, func(img *pb.Image) error {
			img.State, img.Attempts = pb.ImageState_IMAGE_STATE_PROCESSING, int32(attempt)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	m := r.receive(t) // delivery 3 > max attempts 2
	r.proc.Handle(ctx, m)
	if img := r.state(t, id); img.GetState() != pb.ImageState_IMAGE_STATE_FAILED || img.GetError().GetCode() != "processing_failed" {
		t.Fatalf("after the extra delivery: %s %v, want FAILED processing_failed", img.GetState(), img.GetError())
	}
	if msgs, _ := r.q.Receive(ctx, queue.ReceiveOptions{WaitTime: time.Second}); len(msgs) != 0 {
		t.Fatalf("the job is still deliverable: %d messages", len(msgs))
	}
	dl, err := r.dlq.Receive(ctx, queue.ReceiveOptions{WaitTime: 2 * time.Second})
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead-letter queue: %d messages, %v", len(dl), err)
	}
}

// A permanent failure is FAILED at once, not retried, and leaves no
// variants; a duplicate of its message is dropped without effect.
func TestPermanentFailureIsNotRetried(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	id := jobs.NewID()
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	r.originals.Put(ctx, id, bytes.NewReader(jpeg[:len(jpeg)/2]), blob.PutOptions{})
	_, sp, _ := spec.Builtin().Resolve("", "", nil)
	jobs.Submit(ctx, r.rs, r.q, &pb.Image{Id: id, Spec: sp})
	r.proc.Handle(ctx, r.receive(t))
	img := r.state(t, id)
	if img.GetState() != pb.ImageState_IMAGE_STATE_FAILED || img.GetError().GetCode() != "corrupt" || img.GetAttempts() != 1 {
		t.Fatalf("%s %v after %d attempts, want FAILED corrupt after 1", img.GetState(), img.GetError(), img.GetAttempts())
	}
	if st, _ := r.q.Stats(ctx); st.Visible+st.InFlight+st.Delayed != 0 {
		t.Errorf("queue not empty after a permanent failure: %+v", st)
	}
	for _, v := range sp.GetVariants() {
		if _, err := r.variants.Head(ctx, id+"/"+v.GetName()); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("variant %s of a failed image: %v", v.GetName(), err)
		}
	}
}

// A spec may ask to enlarge, up to 4096 px a side, but only the original
// says by how much: a 400x225 photograph to 4096 px wide (more than 4
// times) is FAILED at once with upscale_too_large, not retried; within 4
// times it is made.
func TestUpscalePastTheLimitFailsPermanently(t *testing.T) {
	cases := []struct {
		width int32
		want  pb.ImageState
		code  string
	}{
		{4096, pb.ImageState_IMAGE_STATE_FAILED, failure.UpscaleTooLarge},
		{1600, pb.ImageState_IMAGE_STATE_READY, ""},
	}
	for _, c := range cases {
		r := newRig(t, nil)
		ctx := context.Background()
		id := jobs.NewID()
		if _, err := r.originals.Put(ctx, id, bytes.NewReader(imagetest.Fixture(t, "orient-1.jpg")), blob.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		sp := &pb.ProcessingSpec{Variants: []*pb.VariantSpec{{Name: "big", Width: c.width, Format: pb.Format_FORMAT_JPEG, AllowUpscale: true}}}
		if err := spec.Builtin().Validate("spec", sp); err != nil {
			t.Fatalf("the spec is refused at the edge: %v", err)
		}
		if _, err := jobs.Submit(ctx, r.rs, r.q, &pb.Image{Id: id, Spec: sp}); err != nil {
			t.Fatal(err)
		}
		r.proc.Handle(ctx, r.receive(t))
		img := r.state(t, id)
		if img.GetState() != c.want || img.GetError().GetCode() != c.code || img.GetAttempts() != 1 {
			t.Errorf("width %d: %s %v after %d attempts, want %s %q after 1", c.width, img.GetState(), img.GetError(), img.GetAttempts(), c.want, c.code)
		}
		if st, _ := r.q.Stats(ctx); st.Visible+st.InFlight+st.Delayed != 0 {
			t.Errorf("width %d: queue not empty: %+v", c.width, st)
		}
	}
}

// A transient failure is retried; the retry finishes the image.
func TestTransientFailureRetries(t *testing.T) {
	r := newRig(t, faultblob.FirstPerImage(errors.New("simulated outage")))
	id := r.submit(t, "coffee.png")
	ctx := context.Background()
	r.proc.Handle(ctx, r.receive(t))
	if img := r.state(t, id); img.GetState() != pb.ImageState_IMAGE_STATE_PROCESSING || img.GetError().GetCode() != "retrying" {
		t.Fatalf("after a transient failure: %s %v, want PROCESSING with a retrying note", img.GetState(), img.GetError())
	}
	r.proc.Handle(ctx, r.receive(t)) // redelivered at once (backoff 0)
	img := r.state(t, id)
	if img.GetState() != pb.ImageState_IMAGE_STATE_READY || img.GetAttempts() != 2 || img.GetError() != nil || len(img.GetVariants()) != 3 {
		t.Fatalf("%s after %d attempts, error %v, %d variants", img.GetState(), img.GetAttempts(), img.GetError(), len(img.GetVariants()))
	}
}

// The variants are written concurrently; when the public store fails, the
// job fails transiently with nothing recorded as READY, and the retry, with
// the store back, writes all of them.
func TestVariantStoreFailureRetries(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	id := r.submit(t, "dandelion.jpg")
	// A real failure of the real store: its objects directory becomes a file.
	objects := filepath.Join(r.dir, "variants", "objects")
	if err := os.RemoveAll(objects); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(objects, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.proc.Handle(ctx, r.receive(t))
	if img := r.state(t, id); img.GetState() != pb.ImageState_IMAGE_STATE_PROCESSING || img.GetError().GetCode() != "retrying" || len(img.GetVariants()) != 0 {
		t.Fatalf("with the store failing: %s %v, %d variants; want PROCESSING, retrying, none", img.GetState(), img.GetError(), len(img.GetVariants()))
	}
	if err := os.Remove(objects); err != nil {
		t.Fatal(err)
	}
	r.proc.Handle(ctx, r.receive(t))
	img := r.state(t, id)
	if img.GetState() != pb.ImageState_IMAGE_STATE_READY || len(img.GetVariants()) != 3 {
		t.Fatalf("after the retry: %s, %d variants", img.GetState(), len(img.GetVariants()))
	}
	for _, v := range img.GetVariants() {
		if _, err := r.variants.Head(ctx, id+"/"+v.GetName()); err != nil {
			t.Errorf("variant %s: %v", v.GetName(), err)
		}
	}
}

// An attempt that runs past its deadline (processor.job-timeout) fails
// permanently with "timeout" after one attempt: the same work would take
// as long again, so it is not retried.
func TestJobTimeoutFailsPermanently(t *testing.T) {
	r := newRig(t, nil, func(c *processor.Config) { c.JobTimeout = time.Nanosecond })
	ctx := context.Background()
	id := r.submit(t, "dandelion.jpg")
	r.proc.Handle(ctx, r.receive(t))
	img := r.state(t, id)
	if img.GetState() != pb.ImageState_IMAGE_STATE_FAILED || img.GetError().GetCode() != "timeout" || img.GetAttempts() != 1 {
		t.Fatalf("%s %v after %d attempts, want FAILED timeout after 1", img.GetState(), img.GetError(), img.GetAttempts())
	}
	if st, _ := r.q.Stats(ctx); st.Visible+st.InFlight+st.Delayed != 0 {
		t.Errorf("queue not empty after a timeout: %+v", st)
	}
	if st, _ := r.dlq.Stats(ctx); st.Visible+st.InFlight+st.Delayed != 0 {
		t.Errorf("dead-letter queue not empty after a timeout: %+v", st)
	}
	if len(img.GetVariants()) != 0 {
		t.Errorf("a timed-out image has %d variants", len(img.GetVariants()))
	}
}
