package auth

import "context"

// Chain sends each token to the authenticator of its kind: a JWS in
// compact form (two dots) to JWT, anything else to Keys.
type Chain struct {
	Keys Authenticator
	// JWT is nil when no identity provider is configured: JWTs are then
	// refused.
	JWT Authenticator
}

var _ Authenticator = Chain{}

// Authenticate implements Authenticator.
func (c Chain) Authenticate(ctx context.Context, token string) (Principal, error) {
	if LooksLikeJWT(token) {
		if c.JWT == nil {
			return Principal{}, invalidToken()
		}
		return c.JWT.Authenticate(ctx, token)
	}
	if c.Keys == nil {
		return Principal{}, badCredentials()
	}
	return c.Keys.Authenticate(ctx, token)
}

// Off is the authenticator of IMAGEPIPE_AUTH=off: every caller, with or
// without a token, is an admin of the default tenant (the operator). Only
// for a server nobody untrusted can reach.
type Off struct{}

var _ Authenticator = Off{}

// Authenticate implements Authenticator.
func (Off) Authenticate(context.Context, string) (Principal, error) {
	return Principal{Tenant: DefaultTenant, Scopes: []Scope{ScopeAdmin}}, nil
}
