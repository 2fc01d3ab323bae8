package auth_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// whoAmI answers with the principal its handlers see: tenant and scopes in
// a unary reply, the tenant in a streamed one.
type whoAmI struct {
	testpb.UnimplementedTestServiceServer
}

func principal(ctx context.Context) (tenant, scopes string) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return "<none>", ""
	}
	return p.Tenant, strings.Join(auth.ScopeStrings(p.Scopes), ",")
}

func (whoAmI) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	tenant, scopes := principal(ctx)
	return &testpb.SimpleResponse{Username: tenant, OauthScope: scopes}, nil
}

func (whoAmI) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, s testpb.TestService_StreamingOutputCallServer) error {
	tenant, _ := principal(s.Context())
	return s.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: []byte(tenant)}})
}

// serve runs a gRPC server with the auth interceptors (behind apperr's, as
// the app chains them), the test service and the health service, and
// returns a client connection to it.
func serve(t *testing.T, a auth.Authenticator, open func(string) bool, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	unary, stream := auth.Interceptors(a, open)
	log := testLog(t)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(apperr.UnaryInterceptor(log), unary),
		grpc.ChainStreamInterceptor(apperr.StreamInterceptor(log), stream),
	)
	testpb.RegisterTestServiceServer(srv, whoAmI{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	opts = append(opts,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// call makes a unary and a streaming call with authorization (none if
// empty) and returns what each handler saw, or the error.
func call(t *testing.T, conn *grpc.ClientConn, authorization string) (unaryTenant, scopes, streamTenant string, unaryErr, streamErr error) {
	t.Helper()
	ctx := t.Context()
	if authorization != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	}
	c := testpb.NewTestServiceClient(conn)
	if r, err := c.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
		unaryErr = err
	} else {
		unaryTenant, scopes = r.GetUsername(), r.GetOauthScope()
	}
	s, err := c.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
	if err == nil {
		var r *testpb.StreamingOutputCallResponse
		if r, err = s.Recv(); err == nil {
			streamTenant = string(r.GetPayload().GetBody())
		}
	}
	return unaryTenant, scopes, streamTenant, unaryErr, err
}

func TestInterceptors(t *testing.T) {
	good, k := mustKey(t, "acme", auth.ScopeUpload, auth.ScopeRead)
	store := newKeyStore(k)
	conn := serve(t, auth.Chain{Keys: auth.NewKeys(store, nil)}, auth.OpenMethods(false))

	for _, tc := range []struct {
		name, authorization string
		code                codes.Code
		msg                 string
	}{
		{"good key", "Bearer " + good, codes.OK, ""},
		{"scheme in any case", "bearer " + good, codes.OK, ""},
		{"no token", "", codes.Unauthenticated, "this call needs credentials: send Authorization: Bearer <API key or token>"},
		{"other scheme", "Basic " + good, codes.Unauthenticated, "this call needs credentials: send Authorization: Bearer <API key or token>"},
		{"no scheme", good, codes.Unauthenticated, "this call needs credentials: send Authorization: Bearer <API key or token>"},
		{"empty token", "Bearer ", codes.Unauthenticated, "empty bearer token"},
		{"bad key", "Bearer " + good + "x", codes.Unauthenticated, "invalid or revoked credentials"},
		{"JWT, none configured", "Bearer eyJh.eyJi.c2ln", codes.Unauthenticated, "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenant, scopes, streamTenant, uerr, serr := call(t, conn, tc.authorization)
			if tc.code == codes.OK {
				if uerr != nil || serr != nil {
					t.Fatalf("unary: %v; stream: %v", uerr, serr)
				}
				if tenant != "acme" || scopes != "upload,read" || streamTenant != "acme" {
					t.Errorf("handlers saw %q %q (unary), %q (stream)", tenant, scopes, streamTenant)
				}
				return
			}
			for _, err := range []error{uerr, serr} {
				wantCode(t, err, tc.code, tc.msg)
				if reason, _ := apperr.Info(status.Convert(err)); reason != auth.ReasonUnauthenticated {
					t.Errorf("reason %q, want %s", reason, auth.ReasonUnauthenticated)
				}
			}
		})
	}

	t.Run("store down", func(t *testing.T) {
		store.mu.Lock()
		store.getErr = errors.New("database is locked")
		store.mu.Unlock()
		t.Cleanup(func() { store.mu.Lock(); store.getErr = nil; store.mu.Unlock() })
		_, _, _, uerr, serr := call(t, conn, "Bearer "+good)
		wantCode(t, uerr, codes.Unavailable, "service temporarily unavailable, retry")
		wantCode(t, serr, codes.Unavailable, "service temporarily unavailable, retry")
	})

	t.Run("health is open", func(t *testing.T) {
		if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInterceptorsClosedHealth(t *testing.T) {
	conn := serve(t, auth.Chain{Keys: auth.NewKeys(newKeyStore(), nil)}, func(string) bool { return false })
	_, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	wantCode(t, err, codes.Unauthenticated, "")
	stream, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unauthenticated, "")
}

// With auth off every call, with or without a token, is the operator's.
func TestInterceptorsOff(t *testing.T) {
	conn := serve(t, auth.Off{}, auth.OpenMethods(true))
	for _, authorization := range []string{"", "Bearer whatever", "Basic x"} {
		tenant, scopes, streamTenant, uerr, serr := call(t, conn, authorization)
		if uerr != nil || serr != nil || tenant != auth.DefaultTenant || scopes != "admin" || streamTenant != auth.DefaultTenant {
			t.Errorf("authorization %q: saw %q %q %q, errors %v %v", authorization, tenant, scopes, streamTenant, uerr, serr)
		}
	}
}

// PerRPCToken authenticates a client connection's every call, over plain
// (loopback) gRPC.
func TestPerRPCToken(t *testing.T) {
	good, k := mustKey(t, "beta", auth.ScopeRead)
	conn := serve(t, auth.Chain{Keys: auth.NewKeys(newKeyStore(k), nil)}, nil,
		grpc.WithPerRPCCredentials(auth.PerRPCToken(good)))
	tenant, scopes, streamTenant, uerr, serr := call(t, conn, "")
	if uerr != nil || serr != nil || tenant != "beta" || scopes != "read" || streamTenant != "beta" {
		t.Errorf("saw %q %q %q, errors %v %v", tenant, scopes, streamTenant, uerr, serr)
	}
}

func TestOpenMethods(t *testing.T) {
	for _, tc := range []struct {
		method                   string
		open, openWithReflection bool
	}{
		{"/grpc.health.v1.Health/Check", true, true},
		{"/grpc.health.v1.Health/Watch", true, true},
		{"/grpc.health.v1.Health/List", true, true},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", false, true},
		{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", false, true},
		{"/imagepipe.v1.IngestService/Upload", false, false},
		{"/grpc.health.v1.HealthX/Check", false, false},
		{"/x/grpc.health.v1.Health/Check", false, false},
	} {
		if got := auth.OpenMethods(false)(tc.method); got != tc.open {
			t.Errorf("OpenMethods(false)(%s) = %t", tc.method, got)
		}
		if got := auth.OpenMethods(true)(tc.method); got != tc.openWithReflection {
			t.Errorf("OpenMethods(true)(%s) = %t", tc.method, got)
		}
	}
}
