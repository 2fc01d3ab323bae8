// Package auth says who is calling and what they may do: the Principal a
// request carries (tenant and scopes), the authenticators that establish it
// from a bearer credential (API keys, JWTs), and the gRPC interceptors that
// require it on every method. Services read the principal from the context
// and scope every read and write to its tenant.
package auth

import (
	"context"
	"regexp"
	"slices"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc/codes"
)

// Scope is a permission an API key or token carries.
type Scope string

// The scopes. Admin implies the others.
const (
	ScopeUpload Scope = "upload"
	ScopeRead   Scope = "read"
	ScopeAdmin  Scope = "admin"
)

// Scopes lists every scope, in the order they are documented.
var Scopes = []Scope{ScopeUpload, ScopeRead, ScopeAdmin}

// DefaultTenant is the operator's tenant: its admins see every tenant.
const DefaultTenant = "default"

// Reasons of the errors this package returns.
const (
	ReasonUnauthenticated  = "UNAUTHENTICATED"
	ReasonPermissionDenied = "PERMISSION_DENIED"
)

var tenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidTenant reports whether name is a tenant name: 1..63 of [a-z0-9_-],
// starting with a letter or digit.
func ValidTenant(name string) bool { return tenantRE.MatchString(name) }

// Principal is an authenticated caller.
type Principal struct {
	Tenant string
	Scopes []Scope
	// KeyID names the API key used (empty for a JWT).
	KeyID string
	// Subject is a JWT's sub claim (empty for an API key).
	Subject string
}

// Has reports whether p carries scope s; admin implies every scope.
func (p Principal) Has(s Scope) bool {
	return slices.Contains(p.Scopes, s) || slices.Contains(p.Scopes, ScopeAdmin)
}

// Operator reports whether p is an admin of the default tenant: the
// operator, who sees and acts on every tenant.
func (p Principal) Operator() bool {
	return p.Tenant == DefaultTenant && slices.Contains(p.Scopes, ScopeAdmin)
}

// Owns reports whether p may see what belongs to tenant: its own tenant's,
// or anything if p is the operator. Records written before tenants existed
// have no tenant and belong to the default tenant.
func (p Principal) Owns(tenant string) bool {
	if tenant == "" {
		tenant = DefaultTenant
	}
	return p.Tenant == tenant || p.Operator()
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal ctx carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Authenticated returns ctx's principal, whatever its scopes:
// UNAUTHENTICATED when there is none.
func Authenticated(ctx context.Context) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, Unauthenticated("this call needs credentials: send Authorization: Bearer <API key or token>")
	}
	return p, nil
}

// Require returns ctx's principal if it carries scope s: UNAUTHENTICATED
// when there is none, PERMISSION_DENIED when the scope is missing.
func Require(ctx context.Context, s Scope) (Principal, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return p, err
	}
	if !p.Has(s) {
		return p, &apperr.Error{Code: codes.PermissionDenied, Reason: ReasonPermissionDenied,
			Msg: "this call needs the " + string(s) + " scope"}
	}
	return p, nil
}

// RequireOperator is Require(admin) of the default tenant: for what acts
// on every tenant at once (the job queue's dead letters).
func RequireOperator(ctx context.Context) (Principal, error) {
	p, err := Require(ctx, ScopeAdmin)
	if err == nil && !p.Operator() {
		return p, &apperr.Error{Code: codes.PermissionDenied, Reason: ReasonPermissionDenied,
			Msg: "this call acts on every tenant: it needs an admin of tenant " + DefaultTenant}
	}
	return p, err
}

// TenantFor resolves the tenant a call names: its own when requested is
// empty; another only for the operator (others get PERMISSION_DENIED
// naming field).
func TenantFor(p Principal, requested, field string) (string, error) {
	switch {
	case requested == "" || requested == p.Tenant:
		return p.Tenant, nil
	case !ValidTenant(requested):
		return "", apperr.InvalidField(field, "must be 1..63 of [a-z0-9_-]")
	case p.Operator():
		return requested, nil
	}
	return "", &apperr.Error{Code: codes.PermissionDenied, Reason: ReasonPermissionDenied, Field: field,
		Msg: field + ": only an admin of tenant " + DefaultTenant + " may act for another tenant"}
}

// Unauthenticated is the error for missing or bad credentials; msg must
// not say which (a guessed key learns nothing).
func Unauthenticated(msg string) *apperr.Error {
	return &apperr.Error{Code: codes.Unauthenticated, Reason: ReasonUnauthenticated, Msg: msg}
}
