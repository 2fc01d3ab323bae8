package gateway_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/fsblob"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"github.com/imagepipe/imagepipe/internal/testkit/syncbuf"
	"github.com/imagepipe/imagepipe/services/gateway"
	"github.com/imagepipe/imagepipe/services/ingest"
	"github.com/imagepipe/imagepipe/services/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// The API keys the test services know, as "Bearer <key>" credentials.
const (
	keyAdmin  = "ipk_test_admin"  // the operator: every scope
	keyReader = "ipk_test_reader" // read only
)

var testKeys = map[string]auth.Principal{
	keyAdmin:  {Tenant: auth.DefaultTenant, Scopes: []auth.Scope{auth.ScopeAdmin}, KeyID: "admin"},
	keyReader: {Tenant: auth.DefaultTenant, Scopes: []auth.Scope{auth.ScopeRead}, KeyID: "reader"},
}

// serviceScopes is the scope each service's methods need.
var serviceScopes = map[string]auth.Scope{
	pb.IngestService_ServiceDesc.ServiceName:    auth.ScopeUpload,
	pb.StatusService_ServiceDesc.ServiceName:    auth.ScopeRead,
	pb.ProcessorService_ServiceDesc.ServiceName: auth.ScopeUpload,
	pb.AdminService_ServiceDesc.ServiceName:     auth.ScopeAdmin,
}

// authenticate stands in for the services' authentication: the principal
// of a known key in the "authorization" metadata, UNAUTHENTICATED without
// one, PERMISSION_DENIED without the scope the service needs. The health
// service needs none.
func authenticate(ctx context.Context, method string) (context.Context, error) {
	svc := strings.Split(strings.TrimPrefix(method, "/"), "/")[0]
	scope, ok := serviceScopes[svc]
	if !ok {
		return ctx, nil
	}
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 {
		_, err := auth.Require(ctx, scope)
		return ctx, err
	}
	key, ok := strings.CutPrefix(vals[0], "Bearer ")
	p, known := testKeys[key]
	if !ok || !known || len(vals) > 1 {
		return ctx, auth.Unauthenticated("the credential is not valid")
	}
	ctx = auth.NewContext(ctx, p)
	_, err := auth.Require(ctx, scope)
	return ctx, err
}

// call is a gRPC call the services received.
type call struct {
	method string
	md     metadata.MD
	upload *pb.UploadMetadata // an upload's metadata message
}

// env is a gateway in front of real services (loopback gRPC, SQLite
// records and queue, file stores): status, ingest and health, behind an
// interceptor that authenticates as the services do. The processor's and
// admin's routes reach services that implement nothing (501) behind it.
type env struct {
	base     string
	rs       records.Store
	srv      *grpc.Server
	variants blob.Store
	signer   *urlsign.Signer
	log      *syncbuf.Buffer
	// ended receives the context error of every finished server stream.
	ended chan error

	mu    sync.Mutex
	calls []*call
}

// envOptions change the env.
type envOptions struct {
	cfg   gateway.Config // zero: DefaultConfig
	admin bool           // give the gateway an admin connection
	// noURLs gives the gateway no URLVerifier (the env still signs).
	noURLs bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.cfg.ChunkSize == 0 {
		o.cfg = gateway.DefaultConfig()
	}
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rs, err := sqliterecords.New(filepath.Join(dir, "status.db"))
	must(err)
	q, err := sqlitequeue.New(filepath.Join(dir, "queue.db"), sqlitequeue.DefaultOptions())
	must(err)
	originals, err := fsblob.New(filepath.Join(dir, "originals"))
	must(err)
	variants, err := fsblob.New(filepath.Join(dir, "variants"))
	must(err)
	signer, err := urlsign.New([][]byte{bytes.Repeat([]byte("k"), urlsign.MinKeyBytes)})
	must(err)
	e := &env{rs: rs, variants: variants, signer: signer, log: &syncbuf.Buffer{}, ended: make(chan error, 64)}
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))

	scfg := status.DefaultConfig()
	scfg.PollInterval = 10 * time.Millisecond
	icfg := ingest.DefaultConfig()
	icfg.PollInterval = 10 * time.Millisecond
	in, err := ingest.New(icfg, ingest.Deps{Originals: originals, Queue: q, Records: rs, Presets: spec.Builtin(), Log: log})
	must(err)
	// The limits interceptor as ingest runs it (default limits): it
	// announces an admitted upload, which the gateway waits for.
	lim, err := limits.New(limits.DefaultConfig())
	must(err)
	_, limitStream := lim.Interceptors(nil, func(m string) bool {
		return m == pb.IngestService_Upload_FullMethodName || m == pb.IngestService_WriteResumableUpload_FullMethodName
	})
	e.srv = grpc.NewServer(grpc.ChainStreamInterceptor(
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			c := e.record(ss.Context(), info.FullMethod)
			err := h(srv, &recvHook{ServerStream: ss, c: c, e: e})
			e.ended <- ss.Context().Err()
			return err
		},
		apperr.StreamInterceptor(log),
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ctx, err := authenticate(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			return h(srv, &ctxStream{ss, ctx})
		},
		limitStream,
	), grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			e.record(ctx, info.FullMethod)
			return h(ctx, req)
		},
		apperr.UnaryInterceptor(log),
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx, err := authenticate(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return h(ctx, req)
		},
	))
	statusSvc, err := status.New(scfg, status.Deps{Records: rs, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	pb.RegisterStatusServiceServer(e.srv, statusSvc)
	pb.RegisterIngestServiceServer(e.srv, in)
	pb.RegisterProcessorServiceServer(e.srv, pb.UnimplementedProcessorServiceServer{})
	pb.RegisterAdminServiceServer(e.srv, pb.UnimplementedAdminServiceServer{})
	hs := health.NewServer()
	for _, name := range []string{pb.IngestService_ServiceDesc.ServiceName, pb.StatusService_ServiceDesc.ServiceName, pb.ProcessorService_ServiceDesc.ServiceName} {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(e.srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go func() { _ = e.srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(err)
	conns := gateway.Conns{Ingest: conn, Status: conn, Processor: conn}
	if o.admin {
		conns.Admin = conn
	} else {
		conns.Admin = (*grpc.ClientConn)(nil) // as a map lookup that found nothing gives
	}
	deps := gateway.Deps{Conns: conns, Variants: variants, URLs: signer}
	if o.noURLs {
		deps.URLs = nil
	}
	h, err := gateway.New(context.Background(), o.cfg, deps, log)
	must(err)
	// The server as the app runs it: its header and idle timeouts.
	srv := httptest.NewUnstartedServer(h)
	srv.Config = o.cfg.HTTPServer(h)
	srv.Start()
	e.base = srv.URL
	t.Cleanup(func() {
		srv.Close()
		conn.Close()
		e.srv.Stop()
		q.Close()
		rs.Close()
	})
	return e
}

// record notes a call and returns it, to be completed.
func (e *env) record(ctx context.Context, method string) *call {
	md, _ := metadata.FromIncomingContext(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	c := &call{method: method, md: md.Copy()}
	e.calls = append(e.calls, c)
	return c
}

// takeCalls returns the calls received since the last takeCalls.
func (e *env) takeCalls() []call {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []call
	for _, c := range e.calls {
		out = append(out, *c)
	}
	e.calls = nil
	return out
}

// recvHook notes the metadata message of an upload stream.
type recvHook struct {
	grpc.ServerStream
	c *call
	e *env
}

func (r *recvHook) RecvMsg(m any) error {
	err := r.ServerStream.RecvMsg(m)
	if req, ok := m.(*pb.UploadRequest); ok && err == nil && req.GetMetadata() != nil {
		r.e.mu.Lock()
		r.c.upload = req.GetMetadata()
		r.e.mu.Unlock()
	}
	return err
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func (e *env) create(t *testing.T, batch string, state pb.ImageState) string {
	t.Helper()
	img := &pb.Image{Id: recordstest.NewID(t), BatchId: batch, State: state}
	if _, err := e.rs.Create(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	return img.GetId()
}

func (e *env) move(t *testing.T, id string, to pb.ImageState) {
	t.Helper()
	if _, err := records.Mutate(context.Background(), e.rs, id, func(img *pb.Image) error {
		img.State = to
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// do sends a request with the headers given, and the admin key's
// credential unless they name an Authorization (an empty one: none). The
// response is closed when the test ends, and cut after 20 s so that a
// missing event fails the test instead of hanging it.
func (e *env) do(t *testing.T, ctx context.Context, method, path string, hdr http.Header, body io.Reader) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			if v != "" {
				req.Header.Add(k, v)
			}
		}
	}
	if _, ok := hdr["Authorization"]; !ok {
		req.Header.Set("Authorization", "Bearer "+keyAdmin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// open GETs path with the Accept header given (none if empty), as do.
func (e *env) open(t *testing.T, ctx context.Context, path, accept string) *http.Response {
	t.Helper()
	return e.do(t, ctx, http.MethodGet, path, http.Header{"Accept": {accept}}, nil)
}

// pngImage is a small valid PNG.
func pngImage(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
