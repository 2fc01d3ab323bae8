package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"github.com/imagepipe/imagepipe/services/admin"
	"github.com/imagepipe/imagepipe/services/webhooks"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
)

// createKey creates a key and fails the test on error.
func (e *env) createKey(t *testing.T, ctx context.Context, req *pb.CreateApiKeyRequest) *pb.CreateApiKeyResponse {
	t.Helper()
	resp, err := e.svc.CreateApiKey(ctx, req)
	if err != nil {
		t.Fatalf("CreateApiKey(%v): %v", req, err)
	}
	return resp
}

func keyIDs(resp *pb.ListApiKeysResponse) []string {
	var out []string
	for _, k := range resp.GetKeys() {
		out = append(out, k.GetTenant()+"/"+k.GetId())
	}
	return out
}

func TestCreateApiKey(t *testing.T) {
	e := newEnv(t, 3)
	authn := auth.NewKeys(e.keys, nil)
	cases := []struct {
		name       string
		ctx        context.Context
		req        *pb.CreateApiKeyRequest
		tenant     string
		wantScopes []string
	}{
		{"own tenant, repeats dropped", as(t, "a", auth.ScopeAdmin),
			&pb.CreateApiKeyRequest{Scopes: []string{"read", "upload", "read"}, Name: "ci — ünïcode"}, "a", []string{"read", "upload"}},
		{"naming itself", as(t, "a", auth.ScopeAdmin),
			&pb.CreateApiKeyRequest{Tenant: "a", Scopes: []string{"admin"}}, "a", []string{"admin"}},
		{"operator for another tenant", asOperator(t),
			&pb.CreateApiKeyRequest{Tenant: "newco", Scopes: []string{"upload"}, Name: strings.Repeat("n", 200)}, "newco", []string{"upload"}},
		{"operator for its own", asOperator(t),
			&pb.CreateApiKeyRequest{Scopes: []string{"admin"}}, auth.DefaultTenant, []string{"admin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.createKey(t, tc.ctx, tc.req)
			k := resp.GetKey()
			if k.GetTenant() != tc.tenant || !slices.Equal(k.GetScopes(), tc.wantScopes) || k.GetName() != tc.req.GetName() ||
				k.GetCreateTime() == nil || k.GetLastUseTime() != nil || k.GetRevokeTime() != nil {
				t.Errorf("key %v; want tenant %s, scopes %v, created, never used nor revoked", k, tc.tenant, tc.wantScopes)
			}
			if !strings.HasPrefix(resp.GetSecret(), auth.KeyPrefix+k.GetId()+"_") {
				t.Errorf("secret does not start %s%s_", auth.KeyPrefix, k.GetId())
			}
			stored, err := e.keys.GetKey(t.Context(), k.GetId())
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256([]byte(resp.GetSecret())); !bytes.Equal(stored.Hash, sum[:]) {
				t.Errorf("stored hash is not the key's SHA-256")
			}
			// The key works, as its tenant with its scopes.
			p, err := authn.Authenticate(t.Context(), resp.GetSecret())
			if err != nil || p.Tenant != tc.tenant || !slices.Equal(auth.ScopeStrings(p.Scopes), tc.wantScopes) || p.KeyID != k.GetId() {
				t.Errorf("authenticating with the new key: %+v, %v", p, err)
			}
		})
	}
}

func TestCreateApiKeyRefusals(t *testing.T) {
	e := newEnv(t, 3)
	asA := as(t, "a", auth.ScopeAdmin)
	cases := []struct {
		name  string
		ctx   context.Context
		req   *pb.CreateApiKeyRequest
		code  codes.Code
		field string
	}{
		{"tenant admin for another tenant", asA, &pb.CreateApiKeyRequest{Tenant: "b", Scopes: []string{"read"}}, codes.PermissionDenied, "tenant"},
		{"tenant admin for default", asA, &pb.CreateApiKeyRequest{Tenant: auth.DefaultTenant, Scopes: []string{"admin"}}, codes.PermissionDenied, "tenant"},
		{"operator, bad tenant name", asOperator(t), &pb.CreateApiKeyRequest{Tenant: "Big Co", Scopes: []string{"read"}}, codes.InvalidArgument, "tenant"},
		{"no scopes", asA, &pb.CreateApiKeyRequest{}, codes.InvalidArgument, "scopes"},
		{"unknown scope", asA, &pb.CreateApiKeyRequest{Scopes: []string{"read", "write"}}, codes.InvalidArgument, "scopes"},
		{"a comma list in one", asA, &pb.CreateApiKeyRequest{Scopes: []string{"read,upload"}}, codes.InvalidArgument, "scopes"},
		{"blank scope", asA, &pb.CreateApiKeyRequest{Scopes: []string{""}}, codes.InvalidArgument, "scopes"},
		{"name too long", asA, &pb.CreateApiKeyRequest{Scopes: []string{"read"}, Name: strings.Repeat("n", 201)}, codes.InvalidArgument, "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateApiKey(tc.ctx, tc.req)
			wantCode(t, "CreateApiKey", err, tc.code, tc.field)
		})
	}
	if page, err := e.keys.ListKeys(t.Context(), "", 100, ""); err != nil || len(page.Keys) != 0 {
		t.Errorf("refused requests stored keys: %v, %v", page.Keys, err)
	}
}

func TestListApiKeys(t *testing.T) {
	e := newEnv(t, 3)
	asA, asB := as(t, "a", auth.ScopeAdmin), as(t, "b", auth.ScopeAdmin)
	var secrets []string
	mk := func(ctx context.Context, tenant string) string {
		resp := e.createKey(t, ctx, &pb.CreateApiKeyRequest{Tenant: tenant, Scopes: []string{"read"}})
		secrets = append(secrets, resp.GetSecret())
		return resp.GetKey().GetTenant() + "/" + resp.GetKey().GetId()
	}
	a := []string{mk(asA, ""), mk(asA, "")}
	b := []string{mk(asB, "")}
	c := []string{mk(asOperator(t), "c")}
	slices.Sort(a)
	all := slices.Concat(a, b, c) // by tenant, then id

	cases := []struct {
		name   string
		ctx    context.Context
		tenant string
		want   []string
	}{
		{"a's own", asA, "", a},
		{"b's own", asB, "", b},
		{"operator names a", asOperator(t), "a", a},
		{"operator's own (none)", asOperator(t), "", nil},
		{"operator: every tenant", asOperator(t), "*", all},
	}
	for _, tc := range cases {
		resp, err := e.svc.ListApiKeys(tc.ctx, &pb.ListApiKeysRequest{Tenant: tc.tenant})
		if err != nil || !slices.Equal(keyIDs(resp), tc.want) || resp.GetNextPageToken() != "" {
			t.Errorf("%s: %v, %v; want %v", tc.name, keyIDs(resp), err, tc.want)
		}
		text := prototext.Format(resp)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s: a listing shows a key", tc.name)
			}
		}
	}
	for _, tenant := range []string{"b", "*"} {
		_, err := e.svc.ListApiKeys(asA, &pb.ListApiKeysRequest{Tenant: tenant})
		wantCode(t, "a lists "+tenant, err, codes.PermissionDenied, "tenant")
	}

	// Pages of one through every tenant's keys.
	var got []string
	token := ""
	for {
		resp, err := e.svc.ListApiKeys(asOperator(t), &pb.ListApiKeysRequest{Tenant: "*", PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, keyIDs(resp)...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if len(got) > len(all) {
			t.Fatalf("paging does not end: %v", got)
		}
	}
	if !slices.Equal(got, all) {
		t.Errorf("paged: %v, want %v", got, all)
	}
	_, err := e.svc.ListApiKeys(asA, &pb.ListApiKeysRequest{PageToken: "garbage"})
	wantCode(t, "bad token", err, codes.InvalidArgument, "page_token")
	_, err = e.svc.ListApiKeys(asA, &pb.ListApiKeysRequest{PageSize: 1001})
	wantCode(t, "page too large", err, codes.InvalidArgument, "page_size")
}

func TestRevokeApiKey(t *testing.T) {
	e := newEnv(t, 3)
	authn := auth.NewKeys(e.keys, nil)
	asA := as(t, "a", auth.ScopeAdmin)
	keyA := e.createKey(t, asA, &pb.CreateApiKeyRequest{Scopes: []string{"upload"}})
	keyB := e.createKey(t, as(t, "b", auth.ScopeAdmin), &pb.CreateApiKeyRequest{Scopes: []string{"upload"}})

	for _, id := range []string{keyB.GetKey().GetId(), "nosuchkey", auth.AdminKeyID} {
		_, err := e.svc.RevokeApiKey(asA, &pb.RevokeApiKeyRequest{Id: id})
		wantCode(t, "a revokes "+id, err, codes.NotFound, "")
	}
	_, err := e.svc.RevokeApiKey(asA, &pb.RevokeApiKeyRequest{})
	wantCode(t, "no id", err, codes.InvalidArgument, "id")
	if _, err := authn.Authenticate(t.Context(), keyB.GetSecret()); err != nil {
		t.Fatalf("b's key after a's attempt: %v", err)
	}

	first, err := e.svc.RevokeApiKey(asA, &pb.RevokeApiKeyRequest{Id: keyA.GetKey().GetId()})
	if err != nil || first.GetKey().GetRevokeTime() == nil || first.GetKey().GetTenant() != "a" {
		t.Fatalf("revoke: %v, %v", first, err)
	}
	again, err := e.svc.RevokeApiKey(asA, &pb.RevokeApiKeyRequest{Id: keyA.GetKey().GetId()})
	if err != nil || !again.GetKey().GetRevokeTime().AsTime().Equal(first.GetKey().GetRevokeTime().AsTime()) {
		t.Errorf("revoking again: %v, %v; want the first revoke time kept", again, err)
	}
	_, err = authn.Authenticate(t.Context(), keyA.GetSecret())
	wantCode(t, "the revoked key", err, codes.Unauthenticated, "")
	list, err := e.svc.ListApiKeys(asA, &pb.ListApiKeysRequest{})
	if err != nil || len(list.GetKeys()) != 1 || list.GetKeys()[0].GetRevokeTime() == nil {
		t.Errorf("listing after revoke: %v, %v; want the key, revoked", list, err)
	}

	// The operator revokes any tenant's key.
	if resp, err := e.svc.RevokeApiKey(asOperator(t), &pb.RevokeApiKeyRequest{Id: keyB.GetKey().GetId()}); err != nil || resp.GetKey().GetRevokeTime() == nil {
		t.Errorf("operator revoking b's key: %v, %v", resp, err)
	}
	_, err = authn.Authenticate(t.Context(), keyB.GetSecret())
	wantCode(t, "b's revoked key", err, codes.Unauthenticated, "")
}

func TestRotateWebhookSecret(t *testing.T) {
	e := newEnv(t, 3)
	asA := as(t, "a", auth.ScopeAdmin)
	stored := func(tenant string) []string {
		t.Helper()
		tn, err := e.keys.GetTenant(t.Context(), tenant)
		if err != nil {
			t.Fatal(err)
		}
		return tn.WebhookSecrets
	}
	rotate := func(ctx context.Context, req *pb.RotateWebhookSecretRequest, valid int32) string {
		t.Helper()
		resp, err := e.svc.RotateWebhookSecret(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := webhooks.ValidateSecret(resp.GetSecret()); err != nil || resp.GetValidSecrets() != valid {
			t.Fatalf("rotate: valid_secrets %d (want %d), secret valid: %v", resp.GetValidSecrets(), valid, err)
		}
		if req.GetSecret() != "" && resp.GetSecret() != req.GetSecret() {
			t.Fatalf("rotate answered another secret than the one given")
		}
		return resp.GetSecret()
	}

	s1 := rotate(asA, &pb.RotateWebhookSecretRequest{}, 1)
	if got := stored("a"); !slices.Equal(got, []string{s1}) {
		t.Fatalf("after the first: %d secrets", len(got))
	}
	s2 := rotate(asA, &pb.RotateWebhookSecretRequest{Secret: webhooks.GenerateSecret()}, 2)
	if got := stored("a"); !slices.Equal(got, []string{s2, s1}) {
		t.Fatalf("after the second: want [new, previous]")
	}
	s3 := rotate(asA, &pb.RotateWebhookSecretRequest{}, 2)
	if got := stored("a"); !slices.Equal(got, []string{s3, s2}) {
		t.Fatalf("after the third: want [new, previous], the oldest dropped")
	}
	if s1 == s2 || s2 == s3 || s1 == s3 {
		t.Fatal("generated secrets repeat")
	}
	s4 := rotate(asA, &pb.RotateWebhookSecretRequest{DropPrevious: true}, 1)
	if got := stored("a"); !slices.Equal(got, []string{s4}) {
		t.Fatalf("after drop_previous: want only the new one")
	}
	rotate(asA, &pb.RotateWebhookSecretRequest{Secret: s4}, 1) // the same again: not twice
	if got := stored("a"); !slices.Equal(got, []string{s4}) {
		t.Fatalf("after setting the same secret: want it once")
	}

	// The operator rotates another tenant's; a tenant admin may not.
	sb := rotate(asOperator(t), &pb.RotateWebhookSecretRequest{Tenant: "b"}, 1)
	if got := stored("b"); !slices.Equal(got, []string{sb}) {
		t.Fatalf("operator rotating b's: want b's secret stored")
	}
	_, err := e.svc.RotateWebhookSecret(asA, &pb.RotateWebhookSecretRequest{Tenant: "b"})
	wantCode(t, "a rotates b's", err, codes.PermissionDenied, "tenant")
	if got := stored("b"); !slices.Equal(got, []string{sb}) {
		t.Fatalf("refused rotation changed b's secrets")
	}

	for _, bad := range []string{"hunter2-hunter2", "whsec_c2hvcnQ=", "whsec_not base64!", "whsec_" + strings.Repeat("QUFB", 30)} {
		_, err := e.svc.RotateWebhookSecret(asA, &pb.RotateWebhookSecretRequest{Secret: bad})
		wantCode(t, "bad secret", err, codes.InvalidArgument, "secret")
		if msg := status.Convert(err).Message(); strings.Contains(msg, bad) || strings.Contains(msg, strings.TrimPrefix(bad, "whsec_")) {
			t.Errorf("the error echoes the secret: %q", msg)
		}
	}
	if got := stored("a"); !slices.Equal(got, []string{s4}) {
		t.Fatalf("refused secrets changed a's")
	}
}

// racingStore lets another writer rotate the tenant's secret between the
// service's read and its write, the first time only.
type racingStore struct {
	tenants.Store
	once  sync.Once
	other string
}

func (s *racingStore) PutTenant(ctx context.Context, t tenants.Tenant) (tenants.Tenant, error) {
	s.once.Do(func() {
		cur, err := s.Store.GetTenant(ctx, t.Name)
		if err != nil {
			panic(err)
		}
		cur.WebhookSecrets = []string{s.other}
		if _, err := s.Store.PutTenant(ctx, cur); err != nil {
			panic(err)
		}
	})
	return s.Store.PutTenant(ctx, t)
}

// A write that lost the race is made again from a fresh read: the secret
// the other writer set becomes the previous one.
func TestRotateWebhookSecretRetriesConflicts(t *testing.T) {
	e := newEnv(t, 3)
	ctx := as(t, "a", auth.ScopeAdmin)
	if _, err := e.svc.RotateWebhookSecret(ctx, &pb.RotateWebhookSecretRequest{}); err != nil {
		t.Fatal(err)
	}
	racing := &racingStore{Store: e.keys, other: webhooks.GenerateSecret()}
	d := e.svc.Deps
	d.Tenants = racing
	svc := admin.New(d)
	resp, err := svc.RotateWebhookSecret(ctx, &pb.RotateWebhookSecretRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := e.keys.GetTenant(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tn.WebhookSecrets, []string{resp.GetSecret(), racing.other}) || resp.GetValidSecrets() != 2 {
		t.Errorf("after a conflict: %d secrets; want [new, the other writer's]", len(tn.WebhookSecrets))
	}

	// Concurrent rotations all succeed; two secrets stay, the newest one of
	// them.
	var wg sync.WaitGroup
	got := make([]string, 5)
	for i := range got {
		wg.Go(func() {
			resp, err := e.svc.RotateWebhookSecret(ctx, &pb.RotateWebhookSecretRequest{})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = resp.GetSecret()
		})
	}
	wg.Wait()
	if tn, err = e.keys.GetTenant(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if len(tn.WebhookSecrets) != 2 || !slices.Contains(got, tn.WebhookSecrets[0]) || !slices.Contains(got, tn.WebhookSecrets[1]) {
		t.Errorf("after concurrent rotations: %d secrets, not the last two rotated", len(tn.WebhookSecrets))
	}
}
