package auth

import (
	"context"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Interceptors authenticate every call with a, from its "authorization:
// Bearer <token>" metadata, and put the Principal in the handler's context
// (NewContext); a missing or bad credential is UNAUTHENTICATED. Methods
// for which open(fullMethod) is true (nil: none) are not authenticated and
// carry no principal. With Off no token is needed.
//
// Chain them after apperr's interceptors, so a failure to check a
// credential (the key store down: UNAVAILABLE) is logged with its cause.
func Interceptors(a Authenticator, open func(fullMethod string) bool) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	authn := func(ctx context.Context) (context.Context, error) {
		p, err := authenticate(ctx, a)
		if err != nil {
			return nil, err
		}
		return NewContext(ctx, p), nil
	}
	closed := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return open == nil || !open(c.FullMethod())
	})
	return selector.UnaryServerInterceptor(grpcauth.UnaryServerInterceptor(authn), closed),
		selector.StreamServerInterceptor(grpcauth.StreamServerInterceptor(authn), closed)
}

func authenticate(ctx context.Context, a Authenticator) (Principal, error) {
	if _, off := a.(Off); off {
		return a.Authenticate(ctx, "")
	}
	token, err := grpcauth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return Principal{}, Unauthenticated("this call needs credentials: send Authorization: Bearer <API key or token>")
	}
	if token = strings.TrimSpace(token); token == "" {
		return Principal{}, Unauthenticated("empty bearer token")
	}
	return a.Authenticate(ctx, token)
}

// The services that answer without credentials.
const (
	healthService     = "/grpc.health.v1.Health/"
	reflectionService = "/grpc.reflection."
)

// OpenMethods returns the open argument of Interceptors: the health
// service always, server reflection (every version) when reflection is
// true.
func OpenMethods(reflection bool) func(fullMethod string) bool {
	return func(m string) bool {
		return strings.HasPrefix(m, healthService) || reflection && strings.HasPrefix(m, reflectionService)
	}
}

// PerRPCToken sends token as "authorization: Bearer <token>" on every call
// of a client connection (grpc.WithPerRPCCredentials), for a service that
// calls another. It does not require transport security, because
// imagepipe's services talk plain gRPC over loopback or a private network:
// over any other network the token travels in clear text and can be
// replayed, so use TLS there.
func PerRPCToken(token string) credentials.PerRPCCredentials { return bearer(token) }

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
