package ingest_test

import (
	"slices"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"google.golang.org/grpc/codes"
)

const (
	public  = pb.Visibility_VISIBILITY_PUBLIC
	private = pb.Visibility_VISIBILITY_PRIVATE
)

// inlineSpec is a valid inline spec: what presets-only mode refuses.
func inlineSpec() *pb.ProcessingSpec {
	return &pb.ProcessingSpec{Variants: []*pb.VariantSpec{{Name: "s", Width: 10, Format: pb.Format_FORMAT_PNG}}}
}

// An image belongs to its uploader's tenant and has the visibility asked
// for, recorded explicitly (unspecified is public); both ways of uploading.
func TestUploadStampsTenantAndVisibility(t *testing.T) {
	jpeg := imagetest.Fixture(t, "grey.jpg")
	tests := []struct {
		name       string
		tenant     string // "" for the operator (no caller named)
		scopes     []auth.Scope
		visibility pb.Visibility
		wantTenant string
		want       pb.Visibility
	}{
		{"OperatorUnspecified", "", nil, pb.Visibility_VISIBILITY_UNSPECIFIED, "default", public},
		{"TenantPrivate", "acme", []auth.Scope{auth.ScopeUpload}, private, "acme", private},
		{"TenantPublic", "acme", []auth.Scope{auth.ScopeUpload, auth.ScopeRead}, public, "acme", public},
		{"TenantAdminPrivate", "globex", []auth.Scope{auth.ScopeAdmin}, private, "globex", private},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := newDirectRig(t)
			if tc.tenant != "" {
				r = r.as(tc.tenant, tc.scopes...)
			}
			streamed := r.mustUpload(t, &pb.UploadMetadata{Visibility: tc.visibility, BatchId: "b", IdempotencyKey: "k"}, jpeg)
			resp, err := r.client.CreateUploadURL(r.ctx(t), &pb.CreateUploadURLRequest{ContentType: "image/png", Visibility: tc.visibility})
			if err != nil {
				t.Fatal(err)
			}
			for _, img := range []*pb.Image{streamed, resp.GetImage()} {
				if img.GetTenant() != tc.wantTenant || img.GetVisibility() != tc.want {
					t.Errorf("image of tenant %q, %s; want %q, %s", img.GetTenant(), img.GetVisibility(), tc.wantTenant, tc.want)
				}
				if rec := r.record(t, img.GetId()); rec.Image.GetTenant() != tc.wantTenant || rec.Image.GetVisibility() != tc.want {
					t.Errorf("record of tenant %q, %s; want %q, %s", rec.Image.GetTenant(), rec.Image.GetVisibility(), tc.wantTenant, tc.want)
				}
			}
			// The batch and the key are the tenant's.
			page, err := r.rs.ListByBatch(t.Context(), tc.wantTenant, "b", 10, "")
			if err != nil || len(page.Records) != 1 || page.Records[0].Image.GetId() != streamed.GetId() {
				t.Errorf("tenant %s's batch b: %d records, %v; want the upload", tc.wantTenant, len(page.Records), err)
			}
			if rec, err := r.rs.GetByIdempotencyKey(t.Context(), tc.wantTenant, "k"); err != nil || rec.Image.GetId() != streamed.GetId() {
				t.Errorf("tenant %s's key k: %v, %v; want the upload", tc.wantTenant, rec, err)
			}
		})
	}
}

// Who may upload what: no credentials is UNAUTHENTICATED, a key without
// the upload scope PERMISSION_DENIED, an unknown visibility
// INVALID_ARGUMENT; in presets-only mode an inline spec needs the admin
// scope. Nothing is kept from a refused request. Both ways of uploading.
func TestUploadAuthorization(t *testing.T) {
	jpeg := imagetest.Fixture(t, "grey.jpg")
	type caller func(*rig) *rig
	var (
		operator  caller = func(r *rig) *rig { return r }
		anonymous caller = func(r *rig) *rig { return r.anonymous() }
		uploader  caller = func(r *rig) *rig { return r.as("acme", auth.ScopeUpload) }
		reader    caller = func(r *rig) *rig { return r.as("acme", auth.ScopeRead) }
		noScopes  caller = func(r *rig) *rig { return r.as("acme") }
		admin     caller = func(r *rig) *rig { return r.as("acme", auth.ScopeAdmin) }
	)
	tests := []struct {
		name        string
		presetsOnly bool
		caller      caller
		md          *pb.UploadMetadata
		code        codes.Code // OK: accepted
		reason      string
		field       string // without the "metadata." of Upload
	}{
		{"Anonymous", false, anonymous, &pb.UploadMetadata{},
			codes.Unauthenticated, auth.ReasonUnauthenticated, ""},
		{"ReadScopeOnly", false, reader, &pb.UploadMetadata{},
			codes.PermissionDenied, auth.ReasonPermissionDenied, ""},
		{"NoScopes", false, noScopes, &pb.UploadMetadata{},
			codes.PermissionDenied, auth.ReasonPermissionDenied, ""},
		{"UnknownVisibility", false, uploader, &pb.UploadMetadata{Visibility: pb.Visibility(7)},
			codes.InvalidArgument, apperr.ReasonInvalidField, "visibility"},
		{"InlineSpec", false, uploader, &pb.UploadMetadata{Spec: inlineSpec()}, codes.OK, "", ""},
		{"PresetsOnlyInlineSpec", true, uploader, &pb.UploadMetadata{Spec: inlineSpec()},
			codes.PermissionDenied, auth.ReasonPermissionDenied, "spec"},
		{"PresetsOnlyPreset", true, uploader, &pb.UploadMetadata{Preset: "avatar"}, codes.OK, "", ""},
		{"PresetsOnlyDefaultPreset", true, uploader, &pb.UploadMetadata{}, codes.OK, "", ""},
		{"PresetsOnlyAdminInlineSpec", true, admin, &pb.UploadMetadata{Spec: inlineSpec()}, codes.OK, "", ""},
		{"PresetsOnlyOperatorInlineSpec", true, operator, &pb.UploadMetadata{Spec: inlineSpec()}, codes.OK, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p *presigning
			r := newRig(t, func(o *options) {
				o.cfg.PresetsOnly = tc.presetsOnly
				o.wrap = func(s blob.Store) blob.Store { p = &presigning{Store: s}; return p }
			})
			r = tc.caller(r)
			md := tc.md
			md.BatchId, md.IdempotencyKey = "authz", "authz-key"

			// Upload.
			resp, err := r.upload(t, md, jpeg)
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("Upload: %v", err)
				}
				if sp := resp.GetImage().GetSpec(); md.GetSpec() != nil && len(sp.GetVariants()) != 1 {
					t.Errorf("spec %v, want the inline one", sp)
				}
			} else {
				field := tc.field
				if field != "" {
					field = "metadata." + field
				}
				wantError(t, err, tc.code, tc.reason, field)
				r.wantNothingKept(t, md)
			}

			// CreateUploadURL, whose request is flat.
			req := &pb.CreateUploadURLRequest{ContentType: "image/jpeg", Preset: md.GetPreset(), Spec: md.GetSpec(),
				Visibility: md.GetVisibility(), BatchId: "authz-direct", IdempotencyKey: "authz-direct-key"}
			_, err = r.client.CreateUploadURL(r.ctx(t), req)
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("CreateUploadURL: %v", err)
				}
				return
			}
			wantError(t, err, tc.code, tc.reason, tc.field)
			r.wantNothingKept(t, &pb.UploadMetadata{BatchId: req.GetBatchId(), IdempotencyKey: req.GetIdempotencyKey()})
			if c := p.calls(); len(c) != 0 {
				t.Errorf("presigned %v for a refused request", c)
			}
		})
	}
}

// Idempotency keys and batch ids are the tenant's: two tenants using the
// same ones make two images in two batches, and each repeat answers with
// the repeating tenant's own image.
func TestTenantsShareNoKeysOrBatches(t *testing.T) {
	jpeg := imagetest.Fixture(t, "grey.jpg")
	r := newRig(t)
	callers := map[string]*rig{
		"acme":    r.as("acme", auth.ScopeUpload),
		"globex":  r.as("globex", auth.ScopeUpload),
		"default": r, // the operator
	}
	md := &pb.UploadMetadata{IdempotencyKey: "shared-key", BatchId: "shared-batch"}
	first := map[string]string{}
	for _, tenant := range []string{"acme", "globex", "default"} {
		img := callers[tenant].mustUpload(t, md, jpeg)
		if img.GetTenant() != tenant {
			t.Errorf("%s's upload belongs to %q", tenant, img.GetTenant())
		}
		first[tenant] = img.GetId()
	}
	ids := []string{first["acme"], first["globex"], first["default"]}
	if slices.Contains(ids[1:], ids[0]) || ids[1] == ids[2] {
		t.Fatalf("images %v, want three", ids)
	}
	for tenant, c := range callers {
		if again := c.mustUpload(t, md, jpeg); again.GetId() != first[tenant] {
			t.Errorf("%s's repeat answered %s (of %q), want its own %s", tenant, again.GetId(), again.GetTenant(), first[tenant])
		}
		page, err := r.rs.ListByBatch(t.Context(), tenant, "shared-batch", 10, "")
		if err != nil || len(page.Records) != 1 || page.Records[0].Image.GetId() != first[tenant] {
			t.Errorf("%s's batch: %d records, %v; want its one image", tenant, len(page.Records), err)
		}
	}
	if got := r.jobs(t); len(got) != 3 {
		t.Errorf("queued jobs %v, want the three images'", got)
	}
}

// An idempotency key whose image was deleted is refused with
// FAILED_PRECONDITION naming the key, rather than answered with the
// tombstone; nothing is stored or queued. Another tenant's deleted image
// does not stand in the way.
func TestIdempotencyKeyOfDeletedImage(t *testing.T) {
	jpeg := imagetest.Fixture(t, "grey.jpg")
	r, p := newDirectRig(t)
	acme := r.as("acme", auth.ScopeUpload)
	streamed := acme.mustUpload(t, &pb.UploadMetadata{IdempotencyKey: "gone"}, jpeg)
	direct, err := acme.client.CreateUploadURL(acme.ctx(t), &pb.CreateUploadURLRequest{ContentType: "image/png", IdempotencyKey: "gone-direct"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{streamed.GetId(), direct.GetImage().GetId()} {
		if _, err := records.Mutate(t.Context(), r.rs, id, func(img *pb.Image) error {
			img.State = pb.ImageState_IMAGE_STATE_DELETED
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	r.jobs(t) // the first upload's job, now in flight
	objects, signed := r.objects(t), len(p.calls())

	_, err = acme.upload(t, &pb.UploadMetadata{IdempotencyKey: "gone"}, jpeg)
	wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "metadata.idempotency_key")
	_, err = acme.client.CreateUploadURL(acme.ctx(t), &pb.CreateUploadURLRequest{ContentType: "image/png", IdempotencyKey: "gone-direct"})
	wantError(t, err, codes.FailedPrecondition, apperr.ReasonFailedPrecondition, "idempotency_key")
	if n := r.objects(t); n != objects {
		t.Errorf("%d files in the originals store, want %d", n, objects)
	}
	if n := len(p.calls()); n != signed {
		t.Errorf("%d URLs signed, want %d", n, signed)
	}
	if ids := r.jobs(t); len(ids) != 0 {
		t.Errorf("queued jobs %v, want none", ids)
	}

	// Another tenant's key of the same name is its own.
	img := r.as("globex", auth.ScopeUpload).mustUpload(t, &pb.UploadMetadata{IdempotencyKey: "gone"}, jpeg)
	if img.GetId() == streamed.GetId() || img.GetTenant() != "globex" {
		t.Errorf("globex's upload answered %s of %q, want a new image of globex", img.GetId(), img.GetTenant())
	}
}
