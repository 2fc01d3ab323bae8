package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/services/admin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// as is the test's context calling as tenant with scopes.
func as(t *testing.T, tenant string, scopes ...auth.Scope) context.Context {
	return auth.NewContext(t.Context(), auth.Principal{Tenant: tenant, Scopes: scopes, KeyID: "test"})
}

// tenantImage creates a record of tenant in state and returns its id.
func (e *env) tenantImage(t *testing.T, tenant string, state pb.ImageState, batch string) string {
	t.Helper()
	id := jobs.NewID()
	img := &pb.Image{Id: id, Tenant: tenant, BatchId: batch, State: state, Original: &pb.OriginalInfo{FileName: "x.png"}}
	if _, err := e.rs.Create(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	return id
}

// delivery creates a delivery of tenant, created i seconds after a fixed
// time, and returns its id.
func (e *env) delivery(t *testing.T, i int, tenant string) string {
	t.Helper()
	ct := timestamppb.New(time.Date(2026, 5, 1, 12, 0, i, 0, time.UTC))
	d := &pb.WebhookDelivery{
		Id: fmt.Sprintf("dlv-%d", i), EventId: fmt.Sprintf("evt-%d", i), EventType: "image.ready",
		Url: "https://hooks.example.com/x", Tenant: tenant, State: pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED,
		CreateTime: ct, UpdateTime: ct, Payload: `{}`,
	}
	if _, err := e.del.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	return d.Id
}

// wantCode checks err's gRPC code and, when field is not "", the field at
// fault.
func wantCode(t *testing.T, what string, err error, code codes.Code, field string) {
	t.Helper()
	st := status.Convert(err)
	_, gotField := apperr.Info(st)
	if st.Code() != code || field != "" && gotField != field {
		t.Errorf("%s: %v (field %q), want %s (field %q)", what, err, gotField, code, field)
	}
}

// Every method refuses a call without a principal, and one without the
// scope it needs; the dead letters need the operator.
func TestEveryMethodChecksTheCaller(t *testing.T) {
	e := newEnv(t, 3)
	id := jobs.NewID()
	methods := []struct {
		name     string
		operator bool // only the operator may call it
		call     func(context.Context) error
	}{
		{"ListDeadLetters", true, func(ctx context.Context) error {
			_, err := e.svc.ListDeadLetters(ctx, &pb.ListDeadLettersRequest{})
			return err
		}},
		{"RedriveDeadLetters", true, func(ctx context.Context) error {
			_, err := e.svc.RedriveDeadLetters(ctx, &pb.RedriveDeadLettersRequest{All: true})
			return err
		}},
		{"PurgeDeadLetters", true, func(ctx context.Context) error {
			_, err := e.svc.PurgeDeadLetters(ctx, &pb.PurgeDeadLettersRequest{All: true})
			return err
		}},
		{"RetryImages", false, func(ctx context.Context) error {
			_, err := e.svc.RetryImages(ctx, &pb.RetryImagesRequest{ImageIds: []string{id}})
			return err
		}},
		{"ListWebhookDeliveries", false, func(ctx context.Context) error {
			_, err := e.svc.ListWebhookDeliveries(ctx, &pb.ListWebhookDeliveriesRequest{})
			return err
		}},
		{"ReplayWebhookDelivery", false, func(ctx context.Context) error {
			_, err := e.svc.ReplayWebhookDelivery(ctx, &pb.ReplayWebhookDeliveryRequest{Id: "dlv-none"})
			if status.Convert(err).Code() == codes.NotFound {
				return nil // got past the checks
			}
			return err
		}},
		{"CreateApiKey", false, func(ctx context.Context) error {
			_, err := e.svc.CreateApiKey(ctx, &pb.CreateApiKeyRequest{Scopes: []string{"read"}})
			return err
		}},
		{"ListApiKeys", false, func(ctx context.Context) error {
			_, err := e.svc.ListApiKeys(ctx, &pb.ListApiKeysRequest{})
			return err
		}},
		{"RevokeApiKey", false, func(ctx context.Context) error {
			_, err := e.svc.RevokeApiKey(ctx, &pb.RevokeApiKeyRequest{Id: "none"})
			if status.Convert(err).Code() == codes.NotFound {
				return nil // got past the checks
			}
			return err
		}},
		{"RotateWebhookSecret", false, func(ctx context.Context) error {
			_, err := e.svc.RotateWebhookSecret(ctx, &pb.RotateWebhookSecretRequest{})
			return err
		}},
	}
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			wantCode(t, "no principal", m.call(t.Context()), codes.Unauthenticated, "")
			wantCode(t, "read and upload", m.call(as(t, "acme", auth.ScopeRead, auth.ScopeUpload)), codes.PermissionDenied, "")
			wantCode(t, "default tenant, read and upload", m.call(as(t, auth.DefaultTenant, auth.ScopeRead, auth.ScopeUpload)), codes.PermissionDenied, "")
			tenantAdmin := m.call(as(t, "acme", auth.ScopeAdmin))
			if m.operator {
				wantCode(t, "a tenant's admin", tenantAdmin, codes.PermissionDenied, "")
			} else if tenantAdmin != nil {
				t.Errorf("a tenant's admin: %v", tenantAdmin)
			}
			if err := m.call(asOperator(t)); err != nil {
				t.Errorf("operator: %v", err)
			}
		})
	}
}

func TestRetryImagesTenants(t *testing.T) {
	e := newEnv(t, 3)
	failed := pb.ImageState_IMAGE_STATE_FAILED
	asA := as(t, "a", auth.ScopeAdmin)
	a1, b1 := e.tenantImage(t, "a", failed, ""), e.tenantImage(t, "b", failed, "")
	gone := e.tenantImage(t, "a", pb.ImageState_IMAGE_STATE_DELETED, "")
	resp, err := e.svc.RetryImages(asA, &pb.RetryImagesRequest{ImageIds: []string{a1, b1, gone}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetImages()) != 1 || resp.GetImages()[0].GetId() != a1 {
		t.Errorf("a retried %v, want only %s", resp.GetImages(), a1)
	}
	var skipped []string
	for _, s := range resp.GetSkipped() {
		skipped = append(skipped, s.GetImageId()+" "+s.GetReason())
	}
	if want := []string{b1 + " not_found", gone + " not_found"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %v, want %v (another tenant's and a deleted image read as missing)", skipped, want)
	}
	if got := e.get(t, b1); got.GetState() != failed || got.GetRetries() != 0 {
		t.Errorf("b's image changed: %v", got)
	}
	// The operator retries any tenant's image.
	if resp, err := e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{ImageIds: []string{b1}}); err != nil || len(resp.GetImages()) != 1 {
		t.Errorf("operator retrying b's image: %v, %v", resp, err)
	}

	// Each case: a batch of that name in both tenants.
	cases := []struct {
		name   string
		ctx    context.Context
		tenant string
		want   string // whose image is retried
	}{
		{"a's own", asA, "", "a"},
		{"a names itself", asA, "a", "a"},
		{"operator names b", asOperator(t), "b", "b"},
	}
	for i, tc := range cases {
		batch := fmt.Sprint("trip", i)
		imgs := map[string]string{"a": e.tenantImage(t, "a", failed, batch), "b": e.tenantImage(t, "b", failed, batch)}
		resp, err := e.svc.RetryImages(tc.ctx, &pb.RetryImagesRequest{BatchId: batch, Tenant: tc.tenant})
		if err != nil || len(resp.GetImages()) != 1 || resp.GetImages()[0].GetId() != imgs[tc.want] {
			t.Errorf("%s: %v, %v; want %s's image %s retried", tc.name, resp, err, tc.want, imgs[tc.want])
		}
	}
	e.tenantImage(t, "b", failed, "trip")
	_, err = e.svc.RetryImages(asA, &pb.RetryImagesRequest{BatchId: "trip", Tenant: "b"})
	wantCode(t, "a names b", err, codes.PermissionDenied, "tenant")
	_, err = e.svc.RetryImages(asA, &pb.RetryImagesRequest{BatchId: "trip", Tenant: "No Such"})
	wantCode(t, "a names a bad tenant", err, codes.InvalidArgument, "tenant")
	_, err = e.svc.RetryImages(asOperator(t), &pb.RetryImagesRequest{BatchId: "trip"})
	wantCode(t, "operator's own tenant has no batch trip", err, codes.NotFound, "")
}

func TestWebhookDeliveriesTenants(t *testing.T) {
	e := newEnv(t, 3)
	dOld := e.delivery(t, 1, "") // from before tenants: the default tenant's
	dA := e.delivery(t, 2, "a")
	dB := e.delivery(t, 3, "b")
	dDef := e.delivery(t, 4, auth.DefaultTenant)
	asA := as(t, "a", auth.ScopeAdmin)

	ids := func(resp *pb.ListWebhookDeliveriesResponse) []string {
		var out []string
		for _, d := range resp.GetDeliveries() {
			out = append(out, d.GetId())
		}
		return out
	}
	lists := []struct {
		name   string
		ctx    context.Context
		tenant string
		want   []string
	}{
		{"a's own", asA, "", []string{dA}},
		{"a names itself", asA, "a", []string{dA}},
		{"b's own", as(t, "b", auth.ScopeAdmin), "", []string{dB}},
		{"operator's own", asOperator(t), "", []string{dDef, dOld}},
		{"operator names b", asOperator(t), "b", []string{dB}},
		{"operator: every tenant", asOperator(t), "*", []string{dDef, dB, dA, dOld}},
	}
	for _, tc := range lists {
		resp, err := e.svc.ListWebhookDeliveries(tc.ctx, &pb.ListWebhookDeliveriesRequest{Tenant: tc.tenant})
		if err != nil || !slices.Equal(ids(resp), tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, ids(resp), err, tc.want)
		}
	}
	for _, tenant := range []string{"b", "*", auth.DefaultTenant} {
		_, err := e.svc.ListWebhookDeliveries(asA, &pb.ListWebhookDeliveriesRequest{Tenant: tenant})
		wantCode(t, "a lists "+tenant, err, codes.PermissionDenied, "tenant")
	}

	for _, id := range []string{dB, dOld, dDef, "dlv-none"} {
		_, err := e.svc.ReplayWebhookDelivery(asA, &pb.ReplayWebhookDeliveryRequest{Id: id})
		wantCode(t, "a replays "+id, err, codes.NotFound, "")
	}
	if got, err := e.del.Get(t.Context(), dB); err != nil || got.Delivery.GetReplays() != 0 {
		t.Errorf("b's delivery after a's replay: %v, %v; want untouched", got, err)
	}
	if got := drain(t, e.events); len(got) != 0 {
		t.Errorf("refused replays queued %v", got)
	}
	for _, tc := range []struct {
		ctx context.Context
		id  string
	}{{asA, dA}, {asOperator(t), dB}, {asOperator(t), dOld}} {
		if resp, err := e.svc.ReplayWebhookDelivery(tc.ctx, &pb.ReplayWebhookDeliveryRequest{Id: tc.id}); err != nil || resp.GetDelivery().GetReplays() != 1 {
			t.Errorf("replay %s: %v, %v", tc.id, resp, err)
		}
	}
}

func TestNoKeyStore(t *testing.T) {
	e := newEnv(t, 3)
	svc := admin.New(admin.Deps{Jobs: e.jobs, Records: e.rs, Log: slog.New(slog.DiscardHandler)})
	ctx := asOperator(t)
	_, err := svc.CreateApiKey(ctx, &pb.CreateApiKeyRequest{Scopes: []string{"read"}})
	wantCode(t, "CreateApiKey", err, codes.FailedPrecondition, "")
	_, err = svc.ListApiKeys(ctx, &pb.ListApiKeysRequest{})
	wantCode(t, "ListApiKeys", err, codes.FailedPrecondition, "")
	_, err = svc.RevokeApiKey(ctx, &pb.RevokeApiKeyRequest{Id: "k"})
	wantCode(t, "RevokeApiKey", err, codes.FailedPrecondition, "")
	_, err = svc.RotateWebhookSecret(ctx, &pb.RotateWebhookSecretRequest{})
	wantCode(t, "RotateWebhookSecret", err, codes.FailedPrecondition, "")
}
