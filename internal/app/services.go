package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/metrics"
	"github.com/imagepipe/imagepipe/internal/platform/trace"
	"github.com/imagepipe/imagepipe/services/admin"
	"github.com/imagepipe/imagepipe/services/gateway"
	"github.com/imagepipe/imagepipe/services/ingest"
	"github.com/imagepipe/imagepipe/services/processor"
	"github.com/imagepipe/imagepipe/services/status"
	"github.com/imagepipe/imagepipe/services/webhooks"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/proto"
)

// The service modules: each builds one service of services/ from the
// shared modules and registers it on the gRPC server or as a runner.

// initGRPCServer binds the gRPC listener; every gRPC server registers the
// standard health service and server reflection (unless turned off), both
// open to all; every other method needs credentials (auth.Interceptors),
// and private images in responses get signed URLs. The stores close only
// after handlers return (WaitForHandlers).
func (a *App) initGRPCServer(context.Context) error {
	lis, err := net.Listen("tcp", a.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	a.grpcLis = lis
	authUnary, authStream := auth.Interceptors(a.authn, auth.OpenMethods(a.cfg.Reflection))
	limitUnary, limitStream, err := a.limitInterceptors()
	if err != nil {
		return err
	}
	signUnary, signStream := a.signer.Interceptors(a.cfg.SignedURLTTL)
	// Tracing (a span per call) is a stats handler; the metrics go first
	// in the chains, so they count the code the client gets.
	a.grpcMetrics = metrics.GRPCServer(a.metrics)
	streams := []grpc.StreamServerInterceptor{a.grpcMetrics.StreamServerInterceptor()}
	if a.modules[Ingest] {
		streams = append(streams, ingest.NewUploadMetrics(a.metrics).StreamInterceptor())
	}
	a.grpcServer = grpc.NewServer(append([]grpc.ServerOption{
		grpc.WaitForHandlers(true),
		grpc.StatsHandler(trace.ServerHandler()),
		grpc.ChainUnaryInterceptor(a.grpcMetrics.UnaryServerInterceptor(), apperr.UnaryInterceptor(a.log), authUnary, limitUnary, signUnary),
		grpc.ChainStreamInterceptor(append(streams, apperr.StreamInterceptor(a.log), authStream, limitStream, signStream)...),
	}, a.cfg.GRPC.ServerOptions()...)...)
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.grpcServer, a.healthServer()) // a.health and readiness (ready.go)
	if a.cfg.Reflection {
		reflection.Register(a.grpcServer)
	}
	a.addRunner(runner{
		name: "grpc",
		run:  func(context.Context) error { return a.grpcServer.Serve(a.grpcLis) },
		stop: func(ctx context.Context) { gracefulStop(ctx, a.grpcServer) },
	})
	return nil
}

// gracefulStop lets in-flight RPCs finish until ctx ends, then cuts them.
func gracefulStop(ctx context.Context, s *grpc.Server) {
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.Stop()
	}
}

// register adds a gRPC service and reports it SERVING once New is done.
func (a *App) register(desc *grpc.ServiceDesc, impl any) {
	a.grpcServer.RegisterService(desc, impl)
	a.serving = append(a.serving, desc.ServiceName)
}

func (a *App) initIngest(context.Context) error {
	var callbacks ingest.CallbackCheck
	if a.cfg.webhooksOn() {
		callbacks = a.callbackCheck()
	}
	svc, err := ingest.New(a.cfg.Ingest, ingest.Deps{Originals: a.originals, Queue: a.queue, Records: a.records,
		Presets: a.presets, Callbacks: callbacks, Log: a.log.With("module", Ingest)})
	if err != nil {
		return err
	}
	a.register(&pb.IngestService_ServiceDesc, svc)
	a.addRunner(runner{name: "resumable-sweep", run: svc.SweepResumable})
	return nil
}

func (a *App) initStatus(context.Context) error {
	cfg := a.cfg.Status
	cfg.SignedURLTTL = a.cfg.SignedURLTTL
	svc, err := status.New(cfg, status.Deps{Records: a.records, Signer: a.signer})
	if err != nil {
		return err
	}
	a.register(&pb.StatusService_ServiceDesc, svc)
	return nil
}

func (a *App) initAdmin(context.Context) error {
	a.register(&pb.AdminService_ServiceDesc, admin.New(admin.Deps{Jobs: a.queue, Records: a.records,
		Deliveries: a.deliveries, Events: a.events, Tenants: a.tenants, Log: a.log.With("module", Admin)}))
	return nil
}

// callbackCheck accepts a callback URL when the caller's tenant has a
// signing secret and the URL passes the SSRF guard.
func (a *App) callbackCheck() ingest.CallbackCheck {
	guard := webhooks.NewGuard(a.cfg.Webhooks.AllowNets)
	return func(ctx context.Context, rawURL string) error {
		tenant := auth.DefaultTenant
		if p, ok := auth.FromContext(ctx); ok {
			tenant = p.Tenant
		}
		switch err := a.secrets.CheckCallback(ctx, tenant); {
		case errors.Is(err, webhooks.ErrCallbackNeedsSecret):
			return ingest.ErrNeedsSecret
		case err != nil:
			return apperr.Unavailable(err)
		}
		return guard.CheckURL(ctx, rawURL)
	}
}

// initWebhooks starts the dispatcher when there is an events queue; each
// tenant's deliveries are signed with its own secrets.
func (a *App) initWebhooks(context.Context) error {
	if !a.cfg.webhooksOn() {
		return nil
	}
	d, err := webhooks.NewDispatcher(a.cfg.Webhooks, webhooks.Deps{Events: a.events, Deliveries: a.deliveries,
		Records: a.records, Secrets: a.secrets, Log: a.log.With("module", Webhooks),
		SignURLs: func(m proto.Message) { a.signer.SignImages(m, a.cfg.SignedURLTTL, time.Now()) }, Metrics: a.metrics})
	if err != nil {
		return err
	}
	a.addRunner(runner{name: Webhooks, run: d.Run})
	return nil
}

// initProcessor sizes libvips to the worker pool: the pool uses the
// cores, each job has JobThreads (1 by default: the most images per core,
// see processor.Config).
func (a *App) initProcessor(context.Context) error {
	n := a.cfg.Processor.JobThreads
	imaging.Startup(imaging.Config{Concurrency: n, Parallelism: n})
	proc, err := processor.New(a.cfg.Processor, processor.Deps{Presets: a.presets, Originals: a.originals, Variants: a.variants,
		Queue: a.queue, Events: a.events, Records: a.records, Log: a.log.With("module", Processor), Metrics: a.metrics})
	if err != nil {
		return err
	}
	a.register(&pb.ProcessorService_ServiceDesc, proc.Service())
	a.addRunner(runner{name: Processor, run: proc.Run})
	return nil
}

// initGateway dials the gRPC services, its own listener for those this
// process runs (in "all", both modes run the same code path) and the
// configured addresses for the rest, and binds the HTTP listener.
func (a *App) initGateway(ctx context.Context) error {
	own := ""
	if a.grpcLis != nil {
		own = a.serveLocal()
	}
	addr := func(module, configured string) string {
		if a.modules[module] && own != "" {
			return own
		}
		return configured
	}
	var conns gateway.Conns
	observe := a.clientObservers() // tracing and metrics of the gateway's calls
	for _, c := range []struct {
		name, addr string
		conn       *grpc.ClientConnInterface
	}{
		{Ingest, addr(Ingest, a.cfg.IngestAddr), &conns.Ingest},
		{Status, addr(Status, a.cfg.StatusAddr), &conns.Status},
		{Processor, addr(Processor, a.cfg.ProcessorAddr), &conns.Processor},
		{Admin, addr(Admin, a.cfg.StatusAddr), &conns.Admin}, // AdminService runs in the status target
	} {
		conn, err := grpc.NewClient(c.addr, append(observe, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			return fmt.Errorf("dial %s service at %s: %w", c.name, c.addr, err)
		}
		a.closers = append(a.closers, conn.Close)
		*c.conn = conn
	}
	a.cfg.Gateway.AuthOff = a.cfg.AuthOff()
	a.cfg.Gateway.MaxUploadBytes = a.cfg.Ingest.MaxBytes // an upload's body is capped at what ingest accepts
	h, err := gateway.New(ctx, a.cfg.Gateway, gateway.Deps{Conns: conns, Variants: a.variants, URLs: a.signer, Metrics: a.metrics},
		a.log.With("module", Gateway))
	if err != nil {
		return err
	}
	a.gateway = h
	lis, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	a.httpLis = lis
	srv := a.cfg.Gateway.HTTPServer(h) // header and idle timeouts; the handler bounds each request
	a.addRunner(runner{
		name: "http",
		run:  func(context.Context) error { return srv.Serve(lis) },
		stop: func(ctx context.Context) { _ = srv.Shutdown(ctx) },
	})
	return nil
}

// serveLocal returns the address at which the gateway reaches the
// services of its own process. On Linux that is an abstract Unix socket
// served by the same gRPC server as the TCP listener, so every call goes
// through the same interceptors and stats handlers, and nothing is left
// on disk if the process is killed. It is no more exposed than the TCP
// listener (both take local connections; every call is authenticated),
// and a byte through it costs the kernel less than through TCP loopback:
// measured on a 200 MB upload, whose every byte crosses it once, server
// CPU fell about 10 %. Elsewhere, or if it cannot be made, the TCP
// listener.
func (a *App) serveLocal() string {
	tcp := dialAddr(a.grpcLis.Addr().String())
	if runtime.GOOS != "linux" {
		return tcp
	}
	name := fmt.Sprintf("imagepipe-%d-%s", os.Getpid(), rand.Text())
	lis, err := net.Listen("unix", "@"+name)
	if err != nil {
		a.log.Warn("gateway: no local socket, using TCP", "err", err)
		return tcp
	}
	a.addRunner(runner{
		name: "grpc-local",
		run:  func(context.Context) error { return a.grpcServer.Serve(lis) },
		stop: func(context.Context) { _ = lis.Close() },
	})
	return "unix-abstract:" + name
}

// clientObservers are the dial options of the gateway's connections: a
// span per call (its context sent along) and the gRPC client metrics.
func (a *App) clientObservers() []grpc.DialOption {
	m := metrics.GRPCClient(a.metrics)
	return []grpc.DialOption{
		grpc.WithStatsHandler(trace.ClientHandler()),
		grpc.WithChainUnaryInterceptor(m.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(m.StreamClientInterceptor()),
	}
}

// dialAddr turns a listen address into one to dial (":9090" -> "localhost:9090").
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return net.JoinHostPort("localhost", port)
	}
	return addr
}
