package limits_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
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

// uploadMethod stands for IngestService/Upload: a stream held open until
// the client closes its side.
const uploadMethod = "/grpc.testing.TestService/FullDuplexCall"

type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{}, nil
}

// FullDuplexCall says it started, then waits for the client to finish.
func (testService) FullDuplexCall(s testpb.TestService_FullDuplexCallServer) error {
	if err := s.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
		return err
	}
	for {
		if _, err := s.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// principalFromMD stands in for auth's interceptors: the "tenant"
// metadata, if any, is the caller's tenant.
func principalFromMD(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("tenant"); len(v) > 0 {
		return auth.NewContext(ctx, auth.Principal{Tenant: v[0]})
	}
	return ctx
}

type wrapped struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrapped) Context() context.Context { return w.ctx }

// serve runs a gRPC server chained as the app does (apperr, then the
// principal, then the limits) with the test and health services.
func serve(t *testing.T, cfg limits.Config) *grpc.ClientConn {
	t.Helper()
	l := mustNew(t, cfg)
	unary, stream := l.Interceptors(auth.OpenMethods(false), func(m string) bool { return m == uploadMethod })
	log := slog.New(slog.DiscardHandler)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(apperr.UnaryInterceptor(log),
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				return h(principalFromMD(ctx), req)
			}, unary),
		grpc.ChainStreamInterceptor(apperr.StreamInterceptor(log),
			func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				return h(srv, wrapped{ss, principalFromMD(ss.Context())})
			}, stream),
	)
	testpb.RegisterTestServiceServer(srv, testService{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func as(t *testing.T, tenant string) context.Context {
	if tenant == "" {
		return t.Context()
	}
	return metadata.AppendToOutgoingContext(t.Context(), "tenant", tenant)
}

// checkExhausted asserts err is RESOURCE_EXHAUSTED with reason and a
// positive RetryInfo delay, and returns the message.
func checkExhausted(t *testing.T, err error, reason string) string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED", err)
	}
	if got, _ := apperr.Info(st); got != reason {
		t.Errorf("reason %q, want %q", got, reason)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if delay <= 0 {
		t.Errorf("RetryInfo delay %s, want > 0", delay)
	}
	return st.Message()
}

func TestRatePerTenant(t *testing.T) {
	cfg := limits.Config{RPS: 1, Burst: 2, Tenants: map[string]limits.TenantLimits{
		"big":   {RPS: 2, Burst: 5}, // slow enough that no token refills mid-test
		"small": {Burst: 1},
	}}
	for _, c := range []struct {
		tenant string
		served int // calls served in one instant before the first refusal
	}{
		{"acme", 2},  // the defaults
		{"big", 5},   // raised
		{"small", 1}, // lowered
	} {
		t.Run(c.tenant, func(t *testing.T) {
			conn := serve(t, cfg)
			client := testpb.NewTestServiceClient(conn)
			for i := range c.served {
				if _, err := client.UnaryCall(as(t, c.tenant), &testpb.SimpleRequest{}); err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
			}
			_, err := client.UnaryCall(as(t, c.tenant), &testpb.SimpleRequest{})
			if msg := checkExhausted(t, err, limits.ReasonRateLimited); !strings.Contains(msg, c.tenant) {
				t.Errorf("message %q does not name the tenant", msg)
			}
			// Streams take tokens too.
			s, err := client.FullDuplexCall(as(t, c.tenant))
			if err == nil {
				_, err = s.Recv()
			}
			checkExhausted(t, err, limits.ReasonRateLimited)
			// Another tenant is served in the same instant, and so are
			// calls without a tenant and the health service.
			if _, err := client.UnaryCall(as(t, "other"), &testpb.SimpleRequest{}); err != nil {
				t.Errorf("other tenant: %v", err)
			}
			for range 5 {
				if _, err := client.UnaryCall(as(t, ""), &testpb.SimpleRequest{}); err != nil {
					t.Errorf("no tenant: %v", err)
				}
				if _, err := healthpb.NewHealthClient(conn).Check(as(t, c.tenant), &healthpb.HealthCheckRequest{}); err != nil {
					t.Errorf("health: %v", err)
				}
			}
		})
	}
}

// upload opens an upload stream and waits until its handler runs (nil
// error) or it is refused.
func upload(t *testing.T, client testpb.TestServiceClient, tenant string) (done func(), err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(as(t, tenant))
	s, err := client.FullDuplexCall(ctx)
	if err == nil {
		_, err = s.Recv()
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return func() {
		defer cancel()
		if err := s.CloseSend(); err != nil {
			t.Error(err)
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("upload end: %v", err)
		}
	}, nil
}

func TestUploadsInFlight(t *testing.T) {
	type step struct {
		tenant string
		refuse string // "": served and held; else the reason and a word of the message
		end    int    // >0: end the held upload of this step (1-based) instead
	}
	for _, c := range []struct {
		name  string
		cfg   limits.Config
		steps []step
	}{
		{"process cap", limits.Config{UploadsInFlight: 2, TenantUploadsInFlight: 5}, []step{
			{tenant: "a"}, {tenant: "b"}, {tenant: "c", refuse: "server"}, {tenant: "", refuse: "server"},
			{end: 1}, {tenant: "c"}, {tenant: "a", refuse: "server"},
		}},
		{"tenant cap independent of process cap", limits.Config{UploadsInFlight: 10, TenantUploadsInFlight: 1}, []step{
			{tenant: "a"}, {tenant: "a", refuse: "tenant a"}, {tenant: "b"}, {tenant: ""}, {tenant: ""},
			{end: 1}, {tenant: "a"},
		}},
		{"per-tenant override", limits.Config{UploadsInFlight: 10, TenantUploadsInFlight: 1,
			Tenants: map[string]limits.TenantLimits{"big": {Uploads: 3}}}, []step{
			{tenant: "big"}, {tenant: "big"}, {tenant: "big"}, {tenant: "big", refuse: "tenant big"},
			{tenant: "a"}, {tenant: "a", refuse: "tenant a"},
		}},
		{"no tenant: only the process cap", limits.Config{UploadsInFlight: 2, TenantUploadsInFlight: 1}, []step{
			{tenant: ""}, {tenant: ""}, {tenant: "", refuse: "server"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := testpb.NewTestServiceClient(serve(t, c.cfg))
			held := map[int]func(){}
			for i, s := range c.steps {
				if s.end > 0 {
					held[s.end]()
					delete(held, s.end)
					continue
				}
				done, err := upload(t, client, s.tenant)
				if s.refuse == "" {
					if err != nil {
						t.Fatalf("step %d (%q): %v", i+1, s.tenant, err)
					}
					held[i+1] = done
					continue
				}
				if err == nil {
					done()
					t.Fatalf("step %d (%q): served, want refused", i+1, s.tenant)
				}
				if msg := checkExhausted(t, err, limits.ReasonTooManyUploads); !strings.Contains(msg, s.refuse) {
					t.Errorf("step %d: message %q lacks %q", i+1, msg, s.refuse)
				}
			}
			for _, done := range held {
				done()
			}
		})
	}
}
