package status_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"github.com/imagepipe/imagepipe/services/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// create stores img (given a fresh id if it has none) and returns its id.
func create(t *testing.T, rs records.Store, img *pb.Image) string {
	t.Helper()
	if img.Id == "" {
		img.Id = recordstest.NewID(t)
	}
	if _, err := rs.Create(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	return img.GetId()
}

// wantCode checks err's gRPC code and, when field is not "", the field at
// fault.
func wantCode(t *testing.T, what string, err error, code codes.Code, field string) {
	t.Helper()
	st := grpcstatus.Convert(err)
	_, gotField := apperr.Info(st)
	if st.Code() != code || field != "" && gotField != field {
		t.Errorf("%s: %v (field %q), want %s (field %q)", what, err, gotField, code, field)
	}
}

// calls are every StatusService method, each with a request for id (an
// image), batch and key; a stream's error is its first Recv's.
func calls(c pb.StatusServiceClient, id, batch, key, tenant string) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"GetImage": func(ctx context.Context) error {
			_, err := c.GetImage(ctx, &pb.GetImageRequest{Id: id})
			return err
		},
		"ListImages": func(ctx context.Context) error {
			_, err := c.ListImages(ctx, &pb.ListImagesRequest{BatchId: batch, Tenant: tenant})
			return err
		},
		"GetBatch": func(ctx context.Context) error {
			_, err := c.GetBatch(ctx, &pb.GetBatchRequest{Id: batch, Tenant: tenant})
			return err
		},
		"WatchImage": func(ctx context.Context) error {
			s, err := c.WatchImage(ctx, &pb.WatchImageRequest{Id: id})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		},
		"WatchBatch": func(ctx context.Context) error {
			s, err := c.WatchBatch(ctx, &pb.WatchBatchRequest{Id: batch, Tenant: tenant})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		},
		"LookupImage": func(ctx context.Context) error {
			_, err := c.LookupImage(ctx, &pb.LookupImageRequest{IdempotencyKey: key, Tenant: tenant})
			return err
		},
		"SignURL": func(ctx context.Context) error {
			_, err := c.SignURL(ctx, &pb.SignURLRequest{ImageId: id})
			return err
		},
	}
}

func TestEveryMethodNeedsRead(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	id := create(t, rs, &pb.Image{Tenant: "acme", BatchId: "b", IdempotencyKey: "k", State: ready,
		Variants: []*pb.VariantInfo{{Name: "thumb", Url: "http://x/a/id/thumb"}}})
	for name, call := range calls(c, id, "b", "k", "") {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			wantCode(t, "no principal", call(ctx), codes.Unauthenticated, "")
			wantCode(t, "upload only", call(as(ctx, "acme", auth.ScopeUpload)), codes.PermissionDenied, "")
			if err := call(as(ctx, "acme", auth.ScopeRead)); err != nil {
				t.Errorf("read: %v", err)
			}
			if err := call(as(ctx, "acme", auth.ScopeAdmin)); err != nil {
				t.Errorf("admin (implies read): %v", err)
			}
		})
	}
}

// Tenants a and b each have an image in a batch "trip" with idempotency
// key "k". Each sees only its own; the operator sees both; a reader of
// the default tenant is not the operator.
func TestTenantIsolation(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	mk := func(tenant string) string {
		return create(t, rs, &pb.Image{Tenant: tenant, BatchId: "trip", IdempotencyKey: "k", State: ready,
			Variants: []*pb.VariantInfo{{Name: "thumb", Url: "http://x/a/" + tenant + "/thumb"}}})
	}
	imgA, imgB := mk("a"), mk("b")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	asA, asB := as(ctx, "a", auth.ScopeRead), as(ctx, "b", auth.ScopeRead)
	defaultReader := as(ctx, auth.DefaultTenant, auth.ScopeRead)
	op := operator(ctx)

	t.Run("other tenant's image is not found", func(t *testing.T) {
		for _, m := range []string{"GetImage", "WatchImage", "SignURL"} {
			wantCode(t, "a: "+m+"(b's)", calls(c, imgB, "", "", "")[m](asA), codes.NotFound, "")
			wantCode(t, "b: "+m+"(a's)", calls(c, imgA, "", "", "")[m](asB), codes.NotFound, "")
			wantCode(t, "default reader: "+m+"(a's)", calls(c, imgA, "", "", "")[m](defaultReader), codes.NotFound, "")
			if err := calls(c, imgB, "", "", "")[m](op); err != nil {
				t.Errorf("operator: %s(b's): %v", m, err)
			}
		}
		// The error says no more than for an id nobody has.
		_, err := c.GetImage(asA, &pb.GetImageRequest{Id: imgB})
		_, missing := c.GetImage(asA, &pb.GetImageRequest{Id: recordstest.NewID(t)})
		if grpcstatus.Code(err) != grpcstatus.Code(missing) {
			t.Errorf("another tenant's image: %v; a missing one: %v", err, missing)
		}
	})

	t.Run("same batch id, own batch", func(t *testing.T) {
		for _, tc := range []struct {
			ctx         context.Context
			tenant, img string
		}{{asA, "", imgA}, {asB, "", imgB}, {asA, "a", imgA}, {op, "a", imgA}, {op, "b", imgB}} {
			b, err := c.GetBatch(tc.ctx, &pb.GetBatchRequest{Id: "trip", Tenant: tc.tenant})
			if err != nil {
				t.Fatal(err)
			}
			want := records.Tenant(&pb.Image{Tenant: tc.tenant})
			if tc.tenant == "" {
				want = map[string]string{imgA: "a", imgB: "b"}[tc.img]
			}
			if b.GetBatch().GetTotal() != 1 || b.GetBatch().GetImages()[0].GetId() != tc.img || b.GetBatch().GetTenant() != want {
				t.Errorf("GetBatch(trip, tenant %q) = %v; want %s's image %s", tc.tenant, b.GetBatch(), want, tc.img)
			}
			l, err := c.ListImages(tc.ctx, &pb.ListImagesRequest{BatchId: "trip", Tenant: tc.tenant})
			if err != nil || len(l.GetImages()) != 1 || l.GetImages()[0].GetId() != tc.img {
				t.Errorf("ListImages(trip, tenant %q) = %v, %v; want %s", tc.tenant, l, err, tc.img)
			}
			w, err := c.WatchBatch(tc.ctx, &pb.WatchBatchRequest{Id: "trip", Tenant: tc.tenant})
			if err != nil {
				t.Fatal(err)
			}
			first, err := w.Recv()
			if err != nil || first.GetBatch().GetTotal() != 1 || first.GetBatch().GetTenant() != want {
				t.Errorf("WatchBatch(trip, tenant %q) = %v, %v", tc.tenant, first, err)
			}
			if _, err := w.Recv(); !errors.Is(err, io.EOF) {
				t.Errorf("WatchBatch of a READY batch: %v, want the end", err)
			}
			lk, err := c.LookupImage(tc.ctx, &pb.LookupImageRequest{IdempotencyKey: "k", Tenant: tc.tenant})
			if err != nil || lk.GetImage().GetId() != tc.img {
				t.Errorf("LookupImage(k, tenant %q) = %v, %v; want %s", tc.tenant, lk, err, tc.img)
			}
		}
		// The operator's own tenant has no batch "trip".
		_, err := c.GetBatch(op, &pb.GetBatchRequest{Id: "trip"})
		wantCode(t, "operator: GetBatch(trip) of tenant default", err, codes.NotFound, "")
	})

	t.Run("naming another tenant", func(t *testing.T) {
		for _, m := range []string{"ListImages", "GetBatch", "WatchBatch", "LookupImage"} {
			wantCode(t, "a names b: "+m, calls(c, "", "trip", "k", "b")[m](asA), codes.PermissionDenied, "tenant")
			wantCode(t, "default reader names a: "+m, calls(c, "", "trip", "k", "a")[m](defaultReader), codes.PermissionDenied, "tenant")
			wantCode(t, "operator names a bad tenant: "+m, calls(c, "", "trip", "k", "Not A Tenant")[m](op), codes.InvalidArgument, "tenant")
			if m != "ListImages" { // which lists nothing
				wantCode(t, "operator names a tenant without it: "+m, calls(c, "", "trip", "k", "nobody")[m](op), codes.NotFound, "")
			}
		}
		if l, err := c.ListImages(op, &pb.ListImagesRequest{BatchId: "trip", Tenant: "nobody"}); err != nil || len(l.GetImages()) != 0 {
			t.Errorf("operator: ListImages(trip) of a tenant without it = %v, %v; want none", l, err)
		}
	})
}

// A DELETED image reads as missing, to everyone.
func TestDeletedImageIsNotFound(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	id := create(t, rs, &pb.Image{Tenant: "a", BatchId: "gone", IdempotencyKey: "k", State: ready})
	move(t, rs, id, pb.ImageState_IMAGE_STATE_DELETED)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ctx := range []context.Context{as(ctx, "a", auth.ScopeRead), operator(ctx)} {
		for _, m := range []string{"GetImage", "WatchImage", "SignURL"} {
			wantCode(t, m, calls(c, id, "", "", "")[m](ctx), codes.NotFound, "")
		}
		_, err := c.LookupImage(ctx, &pb.LookupImageRequest{IdempotencyKey: "k", Tenant: "a"})
		wantCode(t, "LookupImage", err, codes.NotFound, "")
	}
	// The batch still counts its tombstone.
	b, err := c.GetBatch(as(ctx, "a", auth.ScopeRead), &pb.GetBatchRequest{Id: "gone"})
	if err != nil || b.GetBatch().GetCounts()[pb.ImageState_IMAGE_STATE_DELETED.String()] != 1 {
		t.Errorf("GetBatch of a batch of one deleted image = %v, %v", b, err)
	}
}

// A watched image that is deleted ends the stream with NOT_FOUND.
func TestWatchImageEndsWhenDeleted(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	id := create(t, rs, &pb.Image{Tenant: "a", State: processing})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.WatchImage(as(ctx, "a", auth.ScopeRead), &pb.WatchImageRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetImage().GetState() != processing {
		t.Fatalf("first message: %v, %v", resp, err)
	}
	move(t, rs, id, pb.ImageState_IMAGE_STATE_DELETED)
	resp, err := stream.Recv()
	wantCode(t, "after the delete", err, codes.NotFound, "")
	if resp != nil {
		t.Errorf("sent %v after the delete", resp)
	}
}

func TestNewChecksConfigAndDeps(t *testing.T) {
	_, rs := serve(t, 10*time.Millisecond)
	signer := newSigner(t)
	bad := status.DefaultConfig()
	bad.SignedURLTTL = 8 * 24 * time.Hour
	cases := []struct {
		name string
		cfg  status.Config
		deps status.Deps
	}{
		{"no store", status.DefaultConfig(), status.Deps{Signer: signer}},
		{"no signer", status.DefaultConfig(), status.Deps{Records: rs}},
		{"ttl too long", bad, status.Deps{Records: rs, Signer: signer}},
	}
	for _, tc := range cases {
		if _, err := status.New(tc.cfg, tc.deps); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	if _, err := status.New(status.DefaultConfig(), status.Deps{Records: rs, Signer: signer}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}
