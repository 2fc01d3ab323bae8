package processor_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/processor"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// acme is the context of an uploader of tenant acme.
func acme() context.Context { return as("acme", auth.ScopeUpload) }

// onDelete is a blob store that asks before (if set) before each Delete,
// an error failing it with nothing deleted, and tells after (if set) once
// a Delete succeeded.
type onDelete struct {
	blob.Store
	before func(key string) error
	after  func(key string)
}

func (s *onDelete) Delete(ctx context.Context, key string) error {
	if s.before != nil {
		if err := s.before(key); err != nil {
			return err
		}
	}
	if err := s.Store.Delete(ctx, key); err != nil {
		return err
	}
	if s.after != nil {
		s.after(key)
	}
	return nil
}

// serviceWith is a ProcessorService on the rig's stores but variants.
func (r *rig) serviceWith(t *testing.T, variants blob.Store) *processor.Service {
	t.Helper()
	p, err := processor.New(r.cfg, processor.Deps{Presets: spec.Builtin(), Originals: r.originals, Variants: variants,
		Queue: r.q, Events: r.events, Records: r.rs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p.Service()
}

// wantTombstone checks that got is the tombstone of was: its id, tenant,
// batch, idempotency key, callback URL, visibility and create time, state
// DELETED with a delete time, and nothing else.
func wantTombstone(t *testing.T, got, was *pb.Image) {
	t.Helper()
	if got.GetDeleteTime() == nil || got.GetUpdateTime() == nil {
		t.Fatalf("tombstone without delete or update time: %v", got)
	}
	want := &pb.Image{Id: was.GetId(), Tenant: was.GetTenant(), BatchId: was.GetBatchId(), BatchSize: was.GetBatchSize(),
		IdempotencyKey: was.GetIdempotencyKey(), CallbackUrl: was.GetCallbackUrl(), Visibility: was.GetVisibility(),
		CreateTime: was.GetCreateTime(), State: deleted, DeleteTime: got.GetDeleteTime(), UpdateTime: got.GetUpdateTime()}
	if !proto.Equal(got, want) {
		t.Errorf("tombstone\n%v\nwant\n%v", got, want)
	}
}

// wantEvents checks the image events announced since the last call.
func (r *rig) wantEvents(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	for _, ev := range r.announced(t) {
		got = append(got, ev.ID+" "+ev.State)
	}
	if !slices.Equal(got, want) {
		t.Errorf("announced %v, want %v", got, want)
	}
}

func event(id string, state pb.ImageState) string { return id + " " + state.String() }

// Deleting an image removes its original and every variant, public or
// private, and leaves the record a tombstone, announced once; deleting it
// again answers the same tombstone. A reprocessed image's original is its
// source's and stays; an image not yet processed gets no variants later.
func TestDeleteImage(t *testing.T) {
	filed := func(img *pb.Image) *pb.Image {
		img.Tenant, img.BatchId, img.BatchSize, img.IdempotencyKey, img.CallbackUrl = "acme", "b", 2, "k", "https://hooks.example.com/x"
		return img
	}
	tests := []struct {
		name string
		img  *pb.Image
		// body of the original: the fixture, or its first half if corrupt.
		fixture string
		corrupt bool
		process bool
		// reprocess: delete a reprocessed image of img instead.
		reprocess bool
		state     pb.ImageState // before the delete
	}{
		{"Public", filed(&pb.Image{Visibility: public}), "coffee.png", false, true, false, ready},
		{"Private", filed(&pb.Image{Visibility: private}), "coffee.png", false, true, false, ready},
		{"DirectUpload", filed(&pb.Image{Original: &pb.OriginalInfo{DirectUpload: true, FileName: "up.png"}}), "coffee.png", false, true, false, ready},
		{"Failed", filed(&pb.Image{}), "dandelion.jpg", true, true, false, pb.ImageState_IMAGE_STATE_FAILED},
		{"NotProcessedYet", filed(&pb.Image{Visibility: private}), "coffee.png", false, false, false, pb.ImageState_IMAGE_STATE_QUEUED},
		{"Reprocessed", filed(&pb.Image{Visibility: private}), "coffee.png", false, true, true, ready},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil)
			ctx := context.Background()
			body := imagetest.Fixture(t, tc.fixture)
			if tc.corrupt {
				body = body[:len(body)/2]
			}
			src := r.submitBytes(t, body, tc.img)
			if tc.process {
				r.process(t)
			}
			img := r.state(t, src.GetId())
			var keep []string // the source's variants, which the delete must spare
			if tc.reprocess {
				resp, err := r.svc.Reprocess(acme(), &pb.ReprocessRequest{ImageId: src.GetId(), Preset: "avatar"})
				if err != nil {
					t.Fatal(err)
				}
				r.process(t)
				keep = variantsOf(r.state(t, src.GetId()))
				img = r.state(t, resp.GetImage().GetId())
			}
			if img.GetState() != tc.state {
				t.Fatalf("image %s before the delete, want %s", img.GetState(), tc.state)
			}
			r.announced(t) // the processing's

			resp, err := r.svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: img.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			tomb := resp.GetImage()
			wantTombstone(t, tomb, img)
			if rec := r.state(t, img.GetId()); !proto.Equal(rec, tomb) {
				t.Errorf("record\n%v\nwant the tombstone answered\n%v", rec, tomb)
			}
			wantGone(t, r.variants, "variant", variantKeys(img)...)
			if !tc.reprocess {
				wantGone(t, r.originals, "original", jobs.OriginalKey(img))
			}
			for _, key := range keep {
				if _, err := r.variants.Head(ctx, key); err != nil {
					t.Errorf("source's variant %s: %v", key, err)
				}
			}
			if _, err := r.originals.Head(ctx, jobs.OriginalKey(src)); tc.reprocess && err != nil {
				t.Errorf("the source's original is gone with the reprocessed image: %v", err)
			}
			r.wantEvents(t, event(img.GetId(), deleted))

			// Again: the same tombstone, nothing new to tell.
			again, err := r.svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: img.GetId()})
			if err != nil || !proto.Equal(again.GetImage(), tomb) {
				t.Errorf("second delete: %v, %v; want the tombstone", again.GetImage(), err)
			}
			if !tc.process {
				r.process(t) // the job still queued finds the tombstone
				wantGone(t, r.variants, "variant", variantKeys(img)...)
				if rec := r.state(t, img.GetId()); !proto.Equal(rec, tomb) {
					t.Errorf("after its job, record\n%v\nwant the tombstone\n%v", rec, tomb)
				}
			}
			r.wantQueueEmpty(t)
		})
	}
}

// variantsOf are the keys of img's stored variants.
func variantsOf(img *pb.Image) []string {
	var keys []string
	for _, v := range img.GetVariants() {
		keys = append(keys, jobs.VariantKey(img.GetId(), v.GetName(), jobs.Private(img)))
	}
	return keys
}

// Deleting needs the upload scope and the image's tenant (or the
// operator); another tenant's image is NOT_FOUND, as is one that does not
// exist. A refused delete removes nothing.
func TestDeleteImageAuthorization(t *testing.T) {
	tests := []struct {
		name   string
		ctx    context.Context
		id     string // "": the image's
		code   codes.Code
		reason string
		field  string
	}{
		{"Owner", acme(), "", codes.OK, "", ""},
		{"OwnerAdmin", as("acme", auth.ScopeAdmin), "", codes.OK, "", ""},
		{"Operator", operator(), "", codes.OK, "", ""},
		{"OtherTenant", as("globex", auth.ScopeUpload), "", codes.NotFound, apperr.ReasonNotFound, ""},
		{"OtherTenantAdmin", as("globex", auth.ScopeAdmin), "", codes.NotFound, apperr.ReasonNotFound, ""},
		{"DefaultTenantUploader", as(auth.DefaultTenant, auth.ScopeUpload), "", codes.NotFound, apperr.ReasonNotFound, ""},
		{"ReadScope", as("acme", auth.ScopeRead), "", codes.PermissionDenied, auth.ReasonPermissionDenied, ""},
		{"NoPrincipal", context.Background(), "", codes.Unauthenticated, auth.ReasonUnauthenticated, ""},
		{"UnknownImage", acme(), jobs.NewID(), codes.NotFound, apperr.ReasonNotFound, ""},
		{"NoID", acme(), "-", codes.InvalidArgument, apperr.ReasonInvalidField, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil)
			img := r.submitImage(t, "coffee.png", &pb.Image{Tenant: "acme"})
			r.process(t)
			id := tc.id
			switch id {
			case "":
				id = img.GetId()
			case "-":
				id = ""
			}
			_, err := r.svc.DeleteImage(tc.ctx, &pb.DeleteImageRequest{Id: id})
			if tc.code == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				if st := r.state(t, img.GetId()).GetState(); st != deleted {
					t.Errorf("image %s, want DELETED", st)
				}
				return
			}
			wantError(t, err, tc.code, tc.reason, tc.field)
			got := r.state(t, img.GetId())
			if got.GetState() != ready {
				t.Errorf("image %s after a refused delete, want READY", got.GetState())
			}
			for _, key := range append(variantsOf(got), jobs.OriginalKey(got)) {
				store := r.variants
				if key == jobs.OriginalKey(got) {
					store = r.originals
				}
				if _, err := store.Head(context.Background(), key); err != nil {
					t.Errorf("%s after a refused delete: %v", key, err)
				}
			}
		})
	}
}

// A delete that stops midway is finished by calling it again: when the
// variants cannot be deleted the call fails with the record untouched;
// when it stopped after the tombstone (the original still stored, nothing
// announced), the next call deletes the original and announces.
func TestDeleteFinishesWhatStopped(t *testing.T) {
	t.Run("VariantsStoreFails", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		img := r.submitImage(t, "coffee.png", &pb.Image{Tenant: "acme"})
		r.process(t)
		r.announced(t)
		var mu sync.Mutex
		down := true
		svc := r.serviceWith(t, &onDelete{Store: r.variants, before: func(string) error {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return errors.New("variants store down")
			}
			return nil
		}})
		_, err := svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: img.GetId()})
		wantError(t, err, codes.Unavailable, apperr.ReasonUnavailable, "")
		if got := r.state(t, img.GetId()); got.GetState() != ready {
			t.Errorf("image %s after a failed delete, want READY", got.GetState())
		}
		if _, err := r.originals.Head(context.Background(), img.GetId()); err != nil {
			t.Errorf("original after a failed delete: %v", err)
		}
		r.wantEvents(t)

		mu.Lock()
		down = false
		mu.Unlock()
		if _, err := svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: img.GetId()}); err != nil {
			t.Fatal(err)
		}
		wantGone(t, r.variants, "variant", variantKeys(img)...)
		wantGone(t, r.originals, "original", img.GetId())
		r.wantEvents(t, event(img.GetId(), deleted))
	})

	t.Run("StoppedAfterTheTombstone", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		img := r.submitImage(t, "coffee.png", &pb.Image{Tenant: "acme", Original: &pb.OriginalInfo{DirectUpload: true}})
		r.markDeleted(t, img.GetId())
		r.receive(t) // its job, never run
		resp, err := r.svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: img.GetId()})
		if err != nil || resp.GetImage().GetState() != deleted {
			t.Fatalf("DeleteImage = %v, %v; want the tombstone", resp.GetImage(), err)
		}
		wantGone(t, r.originals, "original", jobs.UploadPrefix+img.GetId())
		r.wantEvents(t, event(img.GetId(), deleted))
	})
}

// A worker racing a delete leaves nothing behind: one that stores its
// variants after the delete removed them finds the tombstone and removes
// them; one that finishes the image while the delete runs has its
// variants removed by the delete.
func TestDeleteRacingAWorker(t *testing.T) {
	t.Run("DeletedWhileRendering", func(t *testing.T) {
		t.Parallel()
		var r *rig
		var once sync.Once
		var id string
		// The delete runs when the worker stores its first variant: the
		// render is done, nothing recorded yet.
		r = newRig(t, func(ctx context.Context, key string) error {
			once.Do(func() {
				if _, err := r.svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: id}); err != nil {
					t.Errorf("DeleteImage: %v", err)
				}
			})
			return nil
		})
		img := r.submitImage(t, "coffee.png", &pb.Image{Tenant: "acme", Visibility: private})
		id = img.GetId()
		r.process(t)
		if got := r.state(t, id); got.GetState() != deleted || len(got.GetVariants()) != 0 {
			t.Errorf("image %s with %d variants, want the tombstone", got.GetState(), len(got.GetVariants()))
		}
		wantGone(t, r.variants, "variant", variantKeys(img)...)
		wantGone(t, r.originals, "original", id)
		r.wantEvents(t, event(id, deleted))
		r.wantQueueEmpty(t)
	})

	t.Run("FinishedWhileDeleting", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		img := r.submitImage(t, "coffee.png", &pb.Image{Tenant: "acme"})
		// The worker runs the whole job once the delete removed the
		// variants the first time: it stores and records its variants
		// before the tombstone.
		var mu sync.Mutex
		left := len(variantKeys(img))
		svc := r.serviceWith(t, &onDelete{Store: r.variants, after: func(string) {
			mu.Lock()
			defer mu.Unlock()
			if left--; left == 0 {
				r.process(t)
			}
		}})
		if _, err := svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: img.GetId()}); err != nil {
			t.Fatal(err)
		}
		if got := r.state(t, img.GetId()); got.GetState() != deleted {
			t.Errorf("image %s, want DELETED", got.GetState())
		}
		wantGone(t, r.variants, "variant", variantKeys(img)...)
		r.wantEvents(t, event(img.GetId(), ready), event(img.GetId(), deleted))
	})
}

// A job delivered again after its image was deleted does nothing.
func TestRedeliveredJobAfterDeleteDoesNothing(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	img := r.submitImage(t, "coffee.png", &pb.Image{Tenant: "acme"})
	r.process(t)
	if _, err := r.svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: img.GetId()}); err != nil {
		t.Fatal(err)
	}
	before, err := r.rs.Get(ctx, img.GetId())
	if err != nil {
		t.Fatal(err)
	}
	r.announced(t)
	// The same job again, as an at-least-once queue may deliver it.
	if _, err := jobs.Enqueue(ctx, r.rs, r.q, img.GetId()); err != nil {
		t.Fatal(err)
	}
	r.process(t)
	if after, err := r.rs.Get(ctx, img.GetId()); err != nil || after.Version != before.Version {
		t.Errorf("record at v%d, %v; want the tombstone untouched at v%d", after.Version, err, before.Version)
	}
	wantGone(t, r.variants, "variant", variantKeys(img)...)
	r.wantEvents(t)
	r.wantQueueEmpty(t)
}

// DeleteBatch deletes every image of the caller's batch (the operator
// names another tenant's) and answers those this call deleted; another
// tenant's batch of the same id is untouched.
func TestDeleteBatch(t *testing.T) {
	r := newRig(t, nil)
	ids := map[string][]string{}
	for _, tenant := range []string{"acme", "acme", "acme", "globex", "default"} {
		img := r.submitImage(t, "coffee.png", &pb.Image{Tenant: tenant, BatchId: "b"})
		ids[tenant] = append(ids[tenant], img.GetId())
	}
	// One of acme's is deleted already.
	if _, err := r.svc.DeleteImage(acme(), &pb.DeleteImageRequest{Id: ids["acme"][0]}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		ctx    context.Context
		req    *pb.DeleteBatchRequest
		want   []string // the ids answered
		code   codes.Code
		reason string
		field  string
	}{
		{"NoPrincipal", context.Background(), &pb.DeleteBatchRequest{BatchId: "b"}, nil, codes.Unauthenticated, auth.ReasonUnauthenticated, ""},
		{"ReadScope", as("acme", auth.ScopeRead), &pb.DeleteBatchRequest{BatchId: "b"}, nil, codes.PermissionDenied, auth.ReasonPermissionDenied, ""},
		{"BadBatchID", acme(), &pb.DeleteBatchRequest{BatchId: "a b"}, nil, codes.InvalidArgument, apperr.ReasonInvalidField, "batch_id"},
		{"NoBatchID", acme(), &pb.DeleteBatchRequest{}, nil, codes.InvalidArgument, apperr.ReasonInvalidField, "batch_id"},
		{"AnotherTenants", acme(), &pb.DeleteBatchRequest{BatchId: "b", Tenant: "globex"}, nil, codes.PermissionDenied, auth.ReasonPermissionDenied, "tenant"},
		{"Unknown", acme(), &pb.DeleteBatchRequest{BatchId: "nope"}, nil, codes.NotFound, apperr.ReasonNotFound, ""},
		{"Own", acme(), &pb.DeleteBatchRequest{BatchId: "b"}, ids["acme"][1:], codes.OK, "", ""},
		{"OwnAgain", acme(), &pb.DeleteBatchRequest{BatchId: "b"}, nil, codes.OK, "", ""},
		{"OwnNamed", as("acme", auth.ScopeUpload), &pb.DeleteBatchRequest{BatchId: "b", Tenant: "acme"}, nil, codes.OK, "", ""},
		{"OperatorForGlobex", operator(), &pb.DeleteBatchRequest{BatchId: "b", Tenant: "globex"}, ids["globex"], codes.OK, "", ""},
		{"Operator", operator(), &pb.DeleteBatchRequest{BatchId: "b"}, ids["default"], codes.OK, "", ""},
	}
	for _, s := range steps { // in order: each step sees the ones before
		resp, err := r.svc.DeleteBatch(s.ctx, s.req)
		if s.code != codes.OK {
			wantError(t, err, s.code, s.reason, s.field)
			continue
		}
		if err != nil || !slices.Equal(resp.GetImageIds(), s.want) {
			t.Errorf("%s: deleted %v, %v; want %v", s.name, resp.GetImageIds(), err, s.want)
		}
		// What it deleted is gone; what it did not is still there.
		for tenant, list := range ids {
			for _, id := range list {
				gone := r.state(t, id).GetState() == deleted
				_, herr := r.originals.Head(context.Background(), id)
				if gone != errors.Is(herr, blob.ErrNotFound) {
					t.Errorf("%s: %s's image %s deleted %v, original: %v", s.name, tenant, id, gone, herr)
				}
			}
		}
		if s.name == "Own" {
			for _, id := range append(ids["globex"], ids["default"]...) {
				if r.state(t, id).GetState() == deleted {
					t.Errorf("acme's DeleteBatch deleted %s of another tenant", id)
				}
			}
		}
	}
	for _, list := range ids {
		for _, id := range list {
			if st := r.state(t, id).GetState(); st != deleted {
				t.Errorf("image %s %s at the end, want DELETED", id, st)
			}
		}
	}
}

// A batch larger than one call's share is deleted over several calls,
// each saying how many remain.
func TestDeleteBatchInParts(t *testing.T) {
	defer processor.SetMaxBatchDeletes(2)()
	r := newRig(t, nil)
	var ids []string
	for range 5 {
		ids = append(ids, r.submitImage(t, "coffee.png", &pb.Image{Tenant: "acme", BatchId: "big"}).GetId())
	}
	for i, want := range []struct {
		ids       []string
		remaining int32
	}{{ids[0:2], 3}, {ids[2:4], 1}, {ids[4:5], 0}, {nil, 0}} {
		resp, err := r.svc.DeleteBatch(acme(), &pb.DeleteBatchRequest{BatchId: "big"})
		if err != nil || !slices.Equal(resp.GetImageIds(), want.ids) || resp.GetRemaining() != want.remaining {
			t.Errorf("call %d: deleted %v, remaining %d, %v; want %v, %d", i+1, resp.GetImageIds(), resp.GetRemaining(), err, want.ids, want.remaining)
		}
	}
}
