package processor_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/processor"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	ready   = pb.ImageState_IMAGE_STATE_READY
	deleted = pb.ImageState_IMAGE_STATE_DELETED
	private = pb.Visibility_VISIBILITY_PRIVATE
	public  = pb.Visibility_VISIBILITY_PUBLIC
)

// submitImage stores a fixture as img's original (under jobs.OriginalKey)
// and submits img with the default preset's spec unless it has one.
func (r *rig) submitImage(t *testing.T, fixture string, img *pb.Image) *pb.Image {
	t.Helper()
	return r.submitBytes(t, imagetest.Fixture(t, fixture), img)
}

// submitBytes is submitImage with an original of body.
func (r *rig) submitBytes(t *testing.T, body []byte, img *pb.Image) *pb.Image {
	t.Helper()
	return r.submitBytesCtx(t, context.Background(), body, img)
}

// submitImageCtx is submitImage within ctx (its span is the job's parent).
func (r *rig) submitImageCtx(t *testing.T, ctx context.Context, fixture string, img *pb.Image) *pb.Image {
	t.Helper()
	return r.submitBytesCtx(t, ctx, imagetest.Fixture(t, fixture), img)
}

// submitBytesCtx is submitBytes within ctx.
func (r *rig) submitBytesCtx(t *testing.T, ctx context.Context, body []byte, img *pb.Image) *pb.Image {
	t.Helper()
	if img.Id == "" {
		img.Id = jobs.NewID()
	}
	if img.Spec == nil {
		_, img.Spec, _ = spec.Builtin().Resolve("", "", nil)
		img.Preset = "default"
	}
	img.CreateTime = timestamppb.Now()
	if _, err := r.originals.Put(ctx, jobs.OriginalKey(img), bytes.NewReader(body), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rec, err := jobs.Submit(ctx, r.rs, r.q, img)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Image
}

// process runs the next job to its end.
func (r *rig) process(t *testing.T) {
	t.Helper()
	r.proc.Handle(context.Background(), r.receive(t))
}

// markDeleted makes id's record a bare tombstone, as a delete leaves it.
func (r *rig) markDeleted(t *testing.T, id string) {
	t.Helper()
	if _, err := records.Mutate(context.Background(), r.rs, id, func(img *pb.Image) error {
		*img = pb.Image{Id: img.GetId(), Tenant: img.GetTenant(), State: deleted, DeleteTime: timestamppb.Now()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// announced receives every event on the events queue (leaving them in
// flight) and returns the image events.
func (r *rig) announced(t *testing.T) []events.ImageEvent {
	t.Helper()
	var out []events.ImageEvent
	for {
		ms, err := r.events.Receive(context.Background(), queue.ReceiveOptions{MaxMessages: 10, VisibilityTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return out
		}
		for _, m := range ms {
			msg, err := events.Decode(m.Body)
			if err != nil || msg.Image == nil {
				t.Fatalf("event %s: %+v, %v", m.Body, msg, err)
			}
			out = append(out, *msg.Image)
		}
	}
}

// wantQueueEmpty checks that the job was settled for good.
func (r *rig) wantQueueEmpty(t *testing.T) {
	t.Helper()
	if st, err := r.q.Stats(context.Background()); err != nil || st != (queue.Stats{}) {
		t.Errorf("job queue %+v, %v; want it empty (the job acked)", st, err)
	}
	if st, err := r.dlq.Stats(context.Background()); err != nil || st != (queue.Stats{}) {
		t.Errorf("dead-letter queue %+v, %v; want it empty", st, err)
	}
}

// variantKeys are every key a variant of img could be under: public and
// private, for each variant of its spec.
func variantKeys(img *pb.Image) []string {
	var keys []string
	for _, v := range img.GetSpec().GetVariants() {
		keys = append(keys, jobs.VariantKey(img.GetId(), v.GetName(), false), jobs.VariantKey(img.GetId(), v.GetName(), true))
	}
	return keys
}

// wantGone checks that none of keys is in store.
func wantGone(t *testing.T, store blob.Store, what string, keys ...string) {
	t.Helper()
	for _, key := range keys {
		if a, err := store.Head(context.Background(), key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("%s %s: %+v, %v; want blob.ErrNotFound", what, key, a, err)
		}
	}
}

// A private image's variants are stored under private/ with a Cache-Control
// no shared cache may keep; a public image's (and one from before
// visibility existed) under their id, cacheable for good. Either way the
// record's URL is the variant's one, unsigned, path.
func TestPrivateVariants(t *testing.T) {
	tests := []struct {
		name       string
		visibility pb.Visibility
		private    bool
	}{
		{"Public", public, false},
		{"Unspecified", pb.Visibility_VISIBILITY_UNSPECIFIED, false},
		{"Private", private, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil)
			img := r.submitImage(t, "coffee.png", &pb.Image{Visibility: tc.visibility})
			r.process(t)
			got := r.state(t, img.GetId())
			if got.GetState() != ready || len(got.GetVariants()) != 3 {
				t.Fatalf("%s with %d variants, want READY with 3", got.GetState(), len(got.GetVariants()))
			}
			wantCC := processor.CacheControl
			if tc.private {
				wantCC = processor.PrivateCacheControl
			}
			for _, v := range got.GetVariants() {
				key := jobs.VariantKey(img.GetId(), v.GetName(), tc.private)
				a, err := r.variants.Head(context.Background(), key)
				if err != nil || a.CacheControl != wantCC || a.Size != v.GetBytes() {
					t.Errorf("variant %s: %+v, %v; want %d bytes with Cache-Control %q", key, a, err, v.GetBytes(), wantCC)
				}
				wantGone(t, r.variants, "variant", jobs.VariantKey(img.GetId(), v.GetName(), !tc.private))
				if want := r.cfg.PublicURL + "/a/" + img.GetId() + "/" + v.GetName(); v.GetUrl() != want {
					t.Errorf("variant URL %q, want %q", v.GetUrl(), want)
				}
			}
		})
	}
}

// A job for a deleted image (redelivered, or queued before the delete) is
// acked and does nothing: no variant stored, no state change, no event.
// When it is a direct upload's notification (the PUT came after the
// delete), the uploaded original is removed too.
func TestJobForDeletedImageDoesNothing(t *testing.T) {
	for _, direct := range []bool{false, true} {
		name := "Upload"
		if direct {
			name = "DirectUpload"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil)
			ctx := context.Background()
			img := r.submitImage(t, "coffee.png", &pb.Image{Original: &pb.OriginalInfo{DirectUpload: direct}})
			r.markDeleted(t, img.GetId())
			before, err := r.rs.Get(ctx, img.GetId())
			if err != nil {
				t.Fatal(err)
			}
			m := r.receive(t)
			if direct { // as the bucket's notification says it
				m.Body = []byte(`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"uploads/` + img.GetId() + `","size":1}}}]}`)
			}
			r.proc.Handle(ctx, m)
			after, err := r.rs.Get(ctx, img.GetId())
			if err != nil || after.Version != before.Version {
				t.Errorf("record at v%d after the job, %v; want it untouched at v%d", after.Version, err, before.Version)
			}
			wantGone(t, r.variants, "variant", variantKeys(img)...)
			if ev := r.announced(t); len(ev) != 0 {
				t.Errorf("announced %+v, want nothing", ev)
			}
			r.wantQueueEmpty(t)
			if direct {
				wantGone(t, r.originals, "direct upload", jobs.UploadPrefix+img.GetId())
			}
		})
	}
}

// The extra delivery after the last attempt (which died) drops the job of
// a deleted image instead of marking it FAILED and dead-lettering it.
func TestAttemptsUsedUpForDeletedImage(t *testing.T) {
	r := newRig(t, nil)
	img := r.submitImage(t, "coffee.png", &pb.Image{})
	for range 2 {
		r.receive(t) // attempts that die without a word
	}
	r.markDeleted(t, img.GetId())
	r.process(t) // delivery 3 > max attempts 2
	if got := r.state(t, img.GetId()); got.GetState() != deleted || got.GetError() != nil {
		t.Errorf("%s %v, want the tombstone untouched", got.GetState(), got.GetError())
	}
	if ev := r.announced(t); len(ev) != 0 {
		t.Errorf("announced %+v, want nothing", ev)
	}
	r.wantQueueEmpty(t)
}
