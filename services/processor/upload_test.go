package processor_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/testkit/faultblob"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/processor"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	failed     = pb.ImageState_IMAGE_STATE_FAILED
	processing = pb.ImageState_IMAGE_STATE_PROCESSING
)

// directUpload records an image as CreateUploadURL does (tenant acme,
// AWAITING_UPLOAD, a direct upload declared image/png) and posts body as
// its upload.
func (r *rig) directUpload(t *testing.T, body []byte) *pb.Image {
	t.Helper()
	_, sp, _ := spec.Builtin().Resolve("", "", nil)
	now := timestamppb.Now()
	rec, err := r.rs.Create(context.Background(), &pb.Image{
		Id: jobs.NewID(), Tenant: "acme", State: pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD, Preset: "default", Spec: sp,
		Original:   &pb.OriginalInfo{FileName: "up.png", DeclaredContentType: "image/png", Format: pb.Format_FORMAT_PNG, DirectUpload: true},
		CreateTime: now, UpdateTime: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.post(t, rec.Image.GetId(), body)
	return rec.Image
}

// post stores body under uploads/ for image id, as a client's POST with
// the image's policy does (again and again while the policy is valid),
// and queues the bucket's notification of it.
func (r *rig) post(t *testing.T, id string, body []byte) {
	t.Helper()
	r.put(t, jobs.UploadPrefix+id, body)
	note := fmt.Sprintf(`{"Records":[{"eventName":"ObjectCreated:Post","s3":{"object":{"key":"uploads/%s","size":%d}}}]}`, id, len(body))
	if _, err := r.q.Send(context.Background(), []byte(note), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := r.originals.Put(context.Background(), key, bytes.NewReader(body), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// stored is what the originals store holds under key; nil if nothing.
func (r *rig) stored(t *testing.T, key string) []byte {
	t.Helper()
	rc, _, err := r.originals.Get(context.Background(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// wantAdmitted checks that img admitted body: its record says so, its
// original is body under its id, and nothing is left under uploads/.
func (r *rig) wantAdmitted(t *testing.T, img *pb.Image, body []byte) {
	t.Helper()
	o := img.GetOriginal()
	if o.GetSha256() != sha(body) || o.GetBytes() != int64(len(body)) || !o.GetDirectUpload() {
		t.Errorf("original recorded as %v, want %d bytes with SHA-256 %s", o, len(body), sha(body))
	}
	if key := jobs.OriginalKey(img); key != img.GetId() {
		t.Errorf("OriginalKey = %q, want the image's id", key)
	}
	if got := r.stored(t, img.GetId()); sha(got) != o.GetSha256() {
		t.Errorf("the original stored has SHA-256 %s (%d bytes), the record says %s", sha(got), len(got), o.GetSha256())
	}
	wantGone(t, r.originals, "direct upload", jobs.UploadPrefix+img.GetId())
}

// procWith is a processor on the rig's stores but originals.
func (r *rig) procWith(t *testing.T, originals blob.Store) *processor.Processor {
	t.Helper()
	p, err := processor.New(r.cfg, processor.Deps{Presets: spec.Builtin(), Originals: originals, Variants: r.variants,
		Queue: r.q, Events: r.events, Records: r.rs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hooked is a blob store that calls onGet once a Get has read the whole
// object (so what the hook writes is not what the caller reads) and onPut
// before a Put.
type hooked struct {
	blob.Store
	onGet, onPut func(key string)
}

func (h *hooked) Get(ctx context.Context, key string) (io.ReadCloser, blob.Attrs, error) {
	rc, attrs, err := h.Store.Get(ctx, key)
	if err != nil {
		return rc, attrs, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, blob.Attrs{}, err
	}
	if h.onGet != nil {
		h.onGet(key)
	}
	return io.NopCloser(bytes.NewReader(b)), attrs, nil
}

func (h *hooked) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) (blob.Attrs, error) {
	if h.onPut != nil {
		h.onPut(key)
	}
	return h.Store.Put(ctx, key, r, opts)
}

// The first direct upload the processor admits becomes the image's
// original under its id, like a streamed upload's: its size, SHA-256 and
// sniffed format are recorded and nothing is left under uploads/.
func TestDirectUpload(t *testing.T) {
	r := newRig(t, nil)
	body := imagetest.Fixture(t, "coffee.png")
	img := r.directUpload(t, body)
	r.process(t)
	got := r.state(t, img.GetId())
	if got.GetState() != ready || len(got.GetVariants()) != 3 || got.GetAttempts() != 1 {
		t.Fatalf("%s with %d variants after %d attempts, want READY with 3 after 1", got.GetState(), len(got.GetVariants()), got.GetAttempts())
	}
	r.wantAdmitted(t, got, body)
	if o := got.GetOriginal(); o.GetFormat() != pb.Format_FORMAT_PNG || o.GetFileName() != "up.png" || o.GetDeclaredContentType() != "image/png" {
		t.Errorf("original %v, want the PNG with the declared name and type kept", o)
	}
	if a, err := r.originals.Head(context.Background(), img.GetId()); err != nil || a.ContentType != "image/png" {
		t.Errorf("original %+v, %v; want it stored as image/png", a, err)
	}
	r.wantEvents(t, event(img.GetId(), ready))
	r.wantQueueEmpty(t)
}

// A second upload under the same key once the image admitted its upload
// changes nothing: the original, the record and the variants stay, the
// object goes, nothing is announced. So does one after the image failed
// on a refused upload.
func TestSecondDirectUploadChangesNothing(t *testing.T) {
	first, second := imagetest.Fixture(t, "coffee.png"), imagetest.Fixture(t, "dandelion.jpg")
	t.Run("AfterReady", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		ctx := context.Background()
		img := r.directUpload(t, first)
		r.process(t)
		before, err := r.rs.Get(ctx, img.GetId())
		if err != nil || before.Image.GetState() != ready {
			t.Fatalf("first upload: %v, %v", before, err)
		}
		variants := map[string]string{}
		for _, key := range variantsOf(before.Image) {
			a, err := r.variants.Head(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			variants[key] = a.ETag
		}
		r.announced(t)

		r.post(t, img.GetId(), second)
		r.process(t)
		after, err := r.rs.Get(ctx, img.GetId())
		if err != nil || after.Version != before.Version || !proto.Equal(after.Image, before.Image) {
			t.Errorf("record v%d after the second upload, %v; want it untouched at v%d", after.Version, err, before.Version)
		}
		r.wantAdmitted(t, after.Image, first)
		for key, etag := range variants {
			if a, err := r.variants.Head(ctx, key); err != nil || a.ETag != etag {
				t.Errorf("variant %s: %+v, %v; want it unchanged", key, a, err)
			}
		}
		r.wantEvents(t)
		r.wantQueueEmpty(t)

		// Reprocessing reads the admitted original.
		resp, err := r.svc.Reprocess(acme(), &pb.ReprocessRequest{ImageId: img.GetId(), Preset: "avatar"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetImage().GetSourceImageId() != img.GetId() {
			t.Errorf("reprocessed image reads %q, want the original under %s", resp.GetImage().GetSourceImageId(), img.GetId())
		}
		r.process(t)
		if re := r.state(t, resp.GetImage().GetId()); re.GetState() != ready || re.GetOriginal().GetSha256() != sha(first) {
			t.Errorf("reprocessed image %s with original %v, want READY from the first upload", re.GetState(), re.GetOriginal())
		}
	})

	// The notification of the second upload is received again: it may be
	// the one that finished the image, whose worker died before
	// announcing, so it announces again; nothing else changes.
	t.Run("RedeliveredAfterReady", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		img := r.directUpload(t, first)
		r.process(t)
		before := r.state(t, img.GetId())
		r.announced(t)
		r.post(t, img.GetId(), second)
		r.receive(t) // a worker takes it and dies
		r.process(t)
		if after := r.state(t, img.GetId()); !proto.Equal(after, before) {
			t.Errorf("record\n%v\nwant it untouched\n%v", after, before)
		}
		r.wantAdmitted(t, before, first)
		r.wantEvents(t, event(img.GetId(), ready))
		r.wantQueueEmpty(t)
	})

	t.Run("AfterARefusedUpload", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		img := r.directUpload(t, []byte("not an image at all"))
		r.process(t)
		before, err := r.rs.Get(context.Background(), img.GetId())
		if err != nil || before.Image.GetState() != failed || before.Image.GetError().GetCode() != "unsupported_format" {
			t.Fatalf("first upload: %v, %v; want FAILED unsupported_format", before, err)
		}
		r.announced(t)
		r.post(t, img.GetId(), second)
		r.process(t)
		if after := r.state(t, img.GetId()); !proto.Equal(after, before.Image) {
			t.Errorf("record\n%v\nwant it untouched\n%v", after, before.Image)
		}
		wantGone(t, r.originals, "upload", jobs.UploadPrefix+img.GetId(), img.GetId())
		r.wantEvents(t)
		r.wantQueueEmpty(t)
		// Nothing was admitted: there is nothing to reprocess.
		_, err = r.svc.Reprocess(acme(), &pb.ReprocessRequest{ImageId: img.GetId()})
		wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "image_id")
	})

	// The first attempt admitted the upload and failed after; a second
	// upload comes while its retry waits. The retry reads the admitted
	// original; the second upload's notification removes its object.
	t.Run("WhileARetryWaits", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, faultblob.FirstPerImage(errors.New("simulated outage")))
		img := r.directUpload(t, first)
		r.process(t)
		if got := r.state(t, img.GetId()); got.GetState() != processing || got.GetOriginal().GetSha256() != sha(first) {
			t.Fatalf("after a failed attempt: %s, original %v; want PROCESSING, admitted", got.GetState(), got.GetOriginal())
		}
		r.post(t, img.GetId(), second)
		r.process(t) // the retry and the notification, in either order
		r.process(t)
		got := r.state(t, img.GetId())
		if got.GetState() != ready {
			t.Fatalf("%s %v, want READY", got.GetState(), got.GetError())
		}
		r.wantAdmitted(t, got, first)
		r.wantEvents(t, event(img.GetId(), ready))
		r.wantQueueEmpty(t)
	})
}

// A worker that dies while admitting an upload leaves a state its
// redelivery finishes: the original is the upload admitted, or, when a
// second upload overwrote it before it was copied, none (original_missing)
// but never the second upload.
func TestDirectUploadAdmissionCutShort(t *testing.T) {
	first, second := imagetest.Fixture(t, "coffee.png"), imagetest.Fixture(t, "dandelion.jpg")
	tests := []struct {
		name     string
		recorded bool   // the admission is recorded
		copied   bool   // the upload was copied to the image's id
		upload   []byte // under uploads/ when the job is redelivered
		state    pb.ImageState
		code     string
	}{
		{"BeforeTheRecord", false, false, first, ready, ""},
		{"BeforeTheCopy", true, false, first, ready, ""},
		{"BeforeTheDelete", true, true, first, ready, ""},
		{"AfterTheDelete", true, true, nil, ready, ""},
		{"BeforeTheCopyThenASecondUpload", true, false, second, failed, "original_missing"},
		{"BeforeTheDeleteThenASecondUpload", true, true, second, ready, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil)
			ctx := context.Background()
			img := r.directUpload(t, first)
			id := img.GetId()
			r.receive(t) // a worker takes the notification, and dies:
			if _, err := records.Mutate(ctx, r.rs, id, func(im *pb.Image) error {
				im.State, im.Attempts = processing, 1
				if tc.recorded {
					im.Original.Bytes, im.Original.Sha256 = int64(len(first)), sha(first)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if tc.copied {
				r.put(t, id, first)
			}
			if tc.upload == nil {
				if err := r.originals.Delete(ctx, jobs.UploadPrefix+id); err != nil {
					t.Fatal(err)
				}
			} else {
				r.put(t, jobs.UploadPrefix+id, tc.upload)
			}

			r.process(t) // redelivered
			got := r.state(t, id)
			if got.GetState() != tc.state || got.GetError().GetCode() != tc.code {
				t.Fatalf("%s %v, want %s %q", got.GetState(), got.GetError(), tc.state, tc.code)
			}
			if tc.state == ready {
				r.wantAdmitted(t, got, first)
			} else {
				wantGone(t, r.originals, "original", id, jobs.UploadPrefix+id)
			}
			r.wantEvents(t, event(id, tc.state))
			r.wantQueueEmpty(t)
		})
	}
}

// Uploads and deletes racing an admission: a second upload while the
// first is copied is removed; of two uploads admitted at once the first
// recorded wins, and the other delivery removes its own; an image deleted
// while its upload is admitted keeps no original.
func TestDirectUploadRaces(t *testing.T) {
	first, second := imagetest.Fixture(t, "coffee.png"), imagetest.Fixture(t, "dandelion.jpg")

	t.Run("SecondUploadWhileCopying", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		img := r.directUpload(t, first)
		var once sync.Once
		p := r.procWith(t, &hooked{Store: r.originals, onPut: func(key string) {
			if key == img.GetId() {
				once.Do(func() {
					r.post(t, img.GetId(), second)
					r.process(t) // its notification: the image admitted the first
				})
			}
		}})
		p.Handle(context.Background(), r.receive(t))
		got := r.state(t, img.GetId())
		if got.GetState() != ready || got.GetAttempts() != 1 {
			t.Fatalf("%s after %d attempts, want READY after 1", got.GetState(), got.GetAttempts())
		}
		r.wantAdmitted(t, got, first)
		r.wantEvents(t, event(img.GetId(), ready))
		r.wantQueueEmpty(t)
	})

	t.Run("TwoUploadsAdmittedAtOnce", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		img := r.directUpload(t, first)
		var once sync.Once
		p := r.procWith(t, &hooked{Store: r.originals, onGet: func(key string) {
			if key == jobs.UploadPrefix+img.GetId() {
				once.Do(func() {
					// Once the first is read, a second upload, admitted
					// and finished before the first is recorded.
					r.post(t, img.GetId(), second)
					r.process(t)
				})
			}
		}})
		p.Handle(context.Background(), r.receive(t))
		got := r.state(t, img.GetId())
		if got.GetState() != ready {
			t.Fatalf("%s %v, want READY", got.GetState(), got.GetError())
		}
		r.wantAdmitted(t, got, second)
		r.wantEvents(t, event(img.GetId(), ready))
		r.wantQueueEmpty(t)
	})

	t.Run("DeletedWhileCopying", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		img := r.directUpload(t, first)
		var once sync.Once
		p := r.procWith(t, &hooked{Store: r.originals, onPut: func(key string) {
			if key == img.GetId() {
				once.Do(func() {
					if _, err := r.svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: img.GetId()}); err != nil {
						t.Errorf("DeleteImage: %v", err)
					}
				})
			}
		}})
		p.Handle(context.Background(), r.receive(t))
		if got := r.state(t, img.GetId()); got.GetState() != deleted {
			t.Fatalf("%s, want DELETED", got.GetState())
		}
		wantGone(t, r.originals, "original", jobs.OwnOriginalKeys(img.GetId())...)
		wantGone(t, r.variants, "variant", variantKeys(img)...)
		r.wantEvents(t, event(img.GetId(), deleted))
		r.wantQueueEmpty(t)
	})
}

// A direct upload not admitted yet has no original to reprocess.
func TestReprocessWaitsForTheDirectUpload(t *testing.T) {
	r := newRig(t, nil)
	img := r.directUpload(t, imagetest.Fixture(t, "coffee.png"))
	_, err := r.svc.Reprocess(acme(), &pb.ReprocessRequest{ImageId: img.GetId()})
	wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "image_id")
	r.process(t) // the notification, still queued
	if got := r.state(t, img.GetId()); got.GetState() != ready {
		t.Fatalf("%s, want READY", got.GetState())
	}
	if _, err := r.svc.Reprocess(acme(), &pb.ReprocessRequest{ImageId: img.GetId()}); err != nil {
		t.Errorf("reprocess once admitted: %v", err)
	}
}
