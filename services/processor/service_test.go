package processor_test

import (
	"context"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/services/processor"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// as is a context carrying the principal of tenant with scopes.
func as(tenant string, scopes ...auth.Scope) context.Context {
	return auth.NewContext(context.Background(), auth.Principal{Tenant: tenant, Scopes: scopes})
}

// operator is the context of the operator (admin of the default tenant):
// what every call carries when auth is off.
func operator() context.Context { return as(auth.DefaultTenant, auth.ScopeAdmin) }

// wantError checks an error's gRPC code and the reason and field of its
// google.rpc.ErrorInfo.
func wantError(t *testing.T, err error, code codes.Code, reason, field string) {
	t.Helper()
	st, ok := grpcstatus.FromError(err)
	if err == nil || !ok {
		t.Fatalf("error = %v, want a gRPC status %s", err, code)
	}
	gotReason, gotField := apperr.Info(st)
	if st.Code() != code || gotReason != reason || gotField != field {
		t.Errorf("error = %s %q (reason %q, field %q), want %s (reason %q, field %q)",
			st.Code(), st.Message(), gotReason, gotField, code, reason, field)
	}
}

// Listing presets needs no particular scope, only a principal.
func TestListPresets(t *testing.T) {
	r := newRig(t, nil)
	_, err := r.svc.ListPresets(context.Background(), &pb.ListPresetsRequest{})
	wantError(t, err, codes.Unauthenticated, auth.ReasonUnauthenticated, "")
	for _, ctx := range []context.Context{operator(), as("acme", auth.ScopeRead), as("acme", auth.ScopeUpload)} {
		resp, err := r.svc.ListPresets(ctx, &pb.ListPresetsRequest{})
		if err != nil || len(resp.GetPresets()) == 0 {
			t.Errorf("ListPresets = %d presets, %v", len(resp.GetPresets()), err)
		}
	}
}

// Reprocessing needs the upload scope and the source's tenant (or the
// operator): another tenant's image, like a deleted one, is NOT_FOUND. The
// new image belongs to the source's tenant (its batch is that tenant's),
// has the source's visibility and reads the source's original. In
// presets-only mode an inline spec needs the admin scope.
func TestReprocess(t *testing.T) {
	inline := &pb.ProcessingSpec{Variants: []*pb.VariantSpec{{Name: "s", Width: 16, Format: pb.Format_FORMAT_PNG}}}
	tests := []struct {
		name        string
		ctx         context.Context
		presetsOnly bool
		deleted     bool // the source is deleted
		spec        *pb.ProcessingSpec
		code        codes.Code // OK: a new image
		reason      string
		field       string
	}{
		{"Owner", as("acme", auth.ScopeUpload), false, false, nil, codes.OK, "", ""},
		{"OwnerAdmin", as("acme", auth.ScopeAdmin), false, false, nil, codes.OK, "", ""},
		{"Operator", operator(), false, false, nil, codes.OK, "", ""},
		{"OwnerInlineSpec", as("acme", auth.ScopeUpload), false, false, inline, codes.OK, "", ""},
		{"OtherTenant", as("globex", auth.ScopeUpload), false, false, nil, codes.NotFound, apperr.ReasonNotFound, ""},
		{"OtherTenantAdmin", as("globex", auth.ScopeAdmin), false, false, nil, codes.NotFound, apperr.ReasonNotFound, ""},
		{"Deleted", as("acme", auth.ScopeUpload), false, true, nil, codes.NotFound, apperr.ReasonNotFound, ""},
		{"ReadScope", as("acme", auth.ScopeRead), false, false, nil, codes.PermissionDenied, auth.ReasonPermissionDenied, ""},
		{"NoPrincipal", context.Background(), false, false, nil, codes.Unauthenticated, auth.ReasonUnauthenticated, ""},
		{"PresetsOnlyInlineSpec", as("acme", auth.ScopeUpload), true, false, inline, codes.PermissionDenied, auth.ReasonPermissionDenied, "spec"},
		{"PresetsOnlyPreset", as("acme", auth.ScopeUpload), true, false, nil, codes.OK, "", ""},
		{"PresetsOnlyAdminInlineSpec", as("acme", auth.ScopeAdmin), true, false, inline, codes.OK, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil, func(c *processor.Config) { c.PresetsOnly = tc.presetsOnly })
			src := r.submitImage(t, "coffee.png", &pb.Image{Tenant: "acme", Visibility: private})
			r.process(t)
			if tc.deleted {
				r.markDeleted(t, src.GetId())
			}
			req := &pb.ReprocessRequest{ImageId: src.GetId(), BatchId: "again", Spec: tc.spec}
			if tc.spec == nil {
				req.Preset = "avatar"
			}
			resp, err := r.svc.Reprocess(tc.ctx, req)
			if tc.code != codes.OK {
				wantError(t, err, tc.code, tc.reason, tc.field)
				if st, _ := r.q.Stats(context.Background()); st.Visible != 0 {
					t.Errorf("a refused reprocess queued %d jobs", st.Visible)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img := resp.GetImage()
			if img.GetTenant() != "acme" || img.GetVisibility() != private || img.GetSourceImageId() != src.GetId() || img.GetId() == src.GetId() {
				t.Errorf("new image %s of %q, %s, source %q; want a new image of acme, private, source %s",
					img.GetId(), img.GetTenant(), img.GetVisibility(), img.GetSourceImageId(), src.GetId())
			}
			for tenant, want := range map[string]int{"acme": 1, "default": 0, "globex": 0} {
				page, err := r.rs.ListByBatch(context.Background(), tenant, "again", 10, "")
				if err != nil || len(page.Records) != want {
					t.Errorf("%s's batch: %d images, %v; want %d", tenant, len(page.Records), err, want)
				}
			}
			// It is processed from the source's original, into private variants.
			r.process(t)
			done := r.state(t, img.GetId())
			if done.GetState() != ready || len(done.GetVariants()) == 0 {
				t.Fatalf("reprocessed image %s with %d variants, want READY", done.GetState(), len(done.GetVariants()))
			}
			for _, v := range done.GetVariants() {
				if _, err := r.variants.Head(context.Background(), jobs.VariantKey(img.GetId(), v.GetName(), true)); err != nil {
					t.Errorf("private variant %s: %v", v.GetName(), err)
				}
			}
		})
	}
}
