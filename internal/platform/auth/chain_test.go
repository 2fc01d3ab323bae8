package auth_test

import (
	"context"
	"slices"
	"testing"

	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"google.golang.org/grpc/codes"
)

// named is an authenticator that admits everyone as its own tenant, to
// show which one a token went to.
type named string

func (n named) Authenticate(context.Context, string) (auth.Principal, error) {
	return auth.Principal{Tenant: string(n)}, nil
}

func TestChain(t *testing.T) {
	both := auth.Chain{Keys: named("keys"), JWT: named("jwt")}
	keysOnly := auth.Chain{Keys: named("keys")}
	for _, tc := range []struct {
		name  string
		chain auth.Chain
		token string
		want  string // tenant of the authenticator reached; "" for a refusal
	}{
		{"API key", both, "ipk_abcdefghijkl_secret", "keys"},
		{"admin key", both, "0123456789abcdef0123456789abcdef", "keys"},
		{"one dot", both, "abc.def", "keys"},
		{"three dots", both, "a.b.c.d", "keys"},
		{"JWT", both, "eyJh.eyJi.c2ln", "jwt"},
		{"JWT without provider", keysOnly, "eyJh.eyJi.c2ln", ""},
		{"API key without provider", keysOnly, "ipk_abcdefghijkl_secret", "keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.chain.Authenticate(t.Context(), tc.token)
			if tc.want == "" {
				wantCode(t, err, codes.Unauthenticated, "invalid token")
				return
			}
			if err != nil || p.Tenant != tc.want {
				t.Errorf("reached %q (%v), want %q", p.Tenant, err, tc.want)
			}
		})
	}
}

func TestOff(t *testing.T) {
	for _, token := range []string{"", "anything", "a.b.c"} {
		p, err := auth.Off{}.Authenticate(t.Context(), token)
		if err != nil || p.Tenant != auth.DefaultTenant || !slices.Equal(p.Scopes, []auth.Scope{auth.ScopeAdmin}) || !p.Operator() {
			t.Errorf("Off(%q) = %+v, %v; want the operator", token, p, err)
		}
	}
}
