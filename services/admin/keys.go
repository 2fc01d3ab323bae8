package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// createKeyAttempts is how many fresh ids CreateApiKey tries: ids are 60
// random bits, so a second is already next to never needed.
const createKeyAttempts = 3

// errNoKeyStore answers the key and secret RPCs when New was given no
// tenants store.
func errNoKeyStore() error {
	return apperr.FailedPrecondition("there is no key store: API keys and webhook secrets cannot be managed")
}

// CreateApiKey implements pb.AdminServiceServer. A tenant admin creates
// keys for its own tenant, the operator for any.
func (s *Service) CreateApiKey(ctx context.Context, req *pb.CreateApiKeyRequest) (*pb.CreateApiKeyResponse, error) {
	p, tenant, err := adminOf(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	scopes, err := parseScopes(req.GetScopes())
	if err != nil {
		return nil, err
	}
	if n := len(req.GetName()); n > auth.MaxKeyNameLen {
		return nil, apperr.InvalidField("name", "at most %d bytes, got %d", auth.MaxKeyNameLen, n)
	}
	if s.Tenants == nil {
		return nil, errNoKeyStore()
	}
	for range createKeyAttempts {
		token, k, err := auth.NewKey(tenant, scopes, req.GetName())
		if err != nil { // the request was checked: this is a bug
			return nil, apperr.Internal(err)
		}
		err = s.Tenants.CreateKey(ctx, k)
		if errors.Is(err, tenants.ErrExists) {
			continue // another key has this id: draw another
		}
		if err != nil {
			return nil, apperr.Unavailable(err)
		}
		s.Log.InfoContext(ctx, "API key created", "key", k.ID, "tenant", k.Tenant, "scopes", k.Scopes, "by", caller(p))
		return &pb.CreateApiKeyResponse{Key: apiKey(k), Secret: token}, nil
	}
	return nil, apperr.Internal(fmt.Errorf("creating an API key: %d ids in a row were taken", createKeyAttempts))
}

// parseScopes checks the scopes of a new key: one or more, each known;
// repeats are dropped.
func parseScopes(names []string) ([]auth.Scope, error) {
	want := strings.Join(auth.ScopeStrings(auth.Scopes), ", ")
	if len(names) == 0 {
		return nil, apperr.InvalidField("scopes", "required: one or more of %s", want)
	}
	var out []auth.Scope
	for i, n := range names {
		sc := auth.Scope(n)
		if !slices.Contains(auth.Scopes, sc) {
			return nil, apperr.InvalidField("scopes", "scopes[%d] %q: not a scope; want %s", i, truncate(n, 40), want)
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// truncate shortens s to at most n bytes (cut at a rune boundary) for an
// error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = strings.ToValidUTF8(s[:n], "")
	return s + "…"
}

// ListApiKeys implements pb.AdminServiceServer: the caller's tenant's keys,
// or, for the operator, another tenant's or ("*") every tenant's, ordered
// by tenant then id.
func (s *Service) ListApiKeys(ctx context.Context, req *pb.ListApiKeysRequest) (*pb.ListApiKeysResponse, error) {
	tenant, n, err := listing(ctx, req.GetTenant(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if s.Tenants == nil {
		return nil, errNoKeyStore()
	}
	page, err := s.Tenants.ListKeys(ctx, tenant, n, req.GetPageToken())
	if errors.Is(err, tenants.ErrInvalidToken) {
		return nil, apperr.InvalidField("page_token", "not a token from a previous response with the same tenant")
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	resp := &pb.ListApiKeysResponse{Keys: make([]*pb.ApiKey, 0, len(page.Keys)), NextPageToken: page.NextPageToken}
	for _, k := range page.Keys {
		resp.Keys = append(resp.Keys, apiKey(k))
	}
	return resp, nil
}

// RevokeApiKey implements pb.AdminServiceServer. Revoking is idempotent
// (the first revoke time stays); another tenant's key is NotFound. The
// authenticator reads the key on every call, so the key is refused from
// the next call on, in every process.
func (s *Service) RevokeApiKey(ctx context.Context, req *pb.RevokeApiKeyRequest) (*pb.RevokeApiKeyResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	id := req.GetId()
	if id == "" {
		return nil, apperr.InvalidField("id", "required")
	}
	if s.Tenants == nil {
		return nil, errNoKeyStore()
	}
	// A key's tenant never changes: checked before the revoke is as good
	// as during.
	k, err := s.Tenants.GetKey(ctx, id)
	if errors.Is(err, tenants.ErrNotFound) || err == nil && !p.Owns(k.Tenant) {
		return nil, apperr.NotFound("API key", id)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	k, err = s.Tenants.RevokeKey(ctx, id, time.Now().UTC())
	if errors.Is(err, tenants.ErrNotFound) {
		return nil, apperr.NotFound("API key", id)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	s.Log.InfoContext(ctx, "API key revoked", "key", k.ID, "tenant", k.Tenant, "revoked", k.RevokeTime, "by", caller(p))
	return &pb.RevokeApiKeyResponse{Key: apiKey(k)}, nil
}

// apiKey describes k for a response: never its hash.
func apiKey(k tenants.Key) *pb.ApiKey {
	return &pb.ApiKey{
		Id:          k.ID,
		Tenant:      k.Tenant,
		Name:        k.Name,
		Scopes:      slices.Clone(k.Scopes),
		CreateTime:  timestamp(k.CreateTime),
		LastUseTime: timestamp(k.LastUseTime),
		RevokeTime:  timestamp(k.RevokeTime),
	}
}

// timestamp is t, or nil for the zero time (unset).
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
