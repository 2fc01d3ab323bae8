// Package app wires imagepipe's modules into one process for a target:
// everything (all) on a laptop, or one service per process in production,
// the way Grafana Tempo runs. Separate targets talk only gRPC; stores are
// shared by URL.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/trace"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	_ "github.com/imagepipe/imagepipe/internal/stores/blob/fsblob" // file://
	_ "github.com/imagepipe/imagepipe/internal/stores/blob/s3blob" // s3://
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	_ "github.com/imagepipe/imagepipe/internal/stores/deliveries/dynamodeliveries" // dynamodb://
	_ "github.com/imagepipe/imagepipe/internal/stores/deliveries/sqlitedeliveries" // sqlite://
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	_ "github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue" // sqlite://
	_ "github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"    // sqs://
	"github.com/imagepipe/imagepipe/internal/stores/records"
	_ "github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords" // dynamodb://
	_ "github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords" // sqlite://
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
)

// Option adjusts an App; tests use them.
type Option func(*App)

// WithVariantsStore wraps the variants store once it is opened; tests use
// it to make the public store fail or stall (see testkit/faultblob).
func WithVariantsStore(wrap func(blob.Store) blob.Store) Option {
	return func(a *App) { a.wrapVariants = wrap }
}

// App is one imagepipe process.
type App struct {
	cfg     Config
	log     *slog.Logger
	modules map[module]bool

	wrapVariants func(blob.Store) blob.Store

	originals, variants blob.Store
	queue               queue.Queue
	records             records.Store
	events              queue.Queue      // nil unless webhooks are on
	deliveries          deliveries.Store // nil unless webhooks are on

	grpcLis, httpLis net.Listener
	grpcServer       *grpc.Server
	health           *health.Server
	httpServer       *http.Server
	proc             *processor.Processor
	dispatcher       *webhooks.Dispatcher
	conns            []*grpc.ClientConn
	closers          []func() error
}

// New opens the stores and listeners the target needs. Nothing is served
// until Run.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts ...Option) (_ *App, err error) {
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	a := &App{cfg: cfg, log: log, modules: map[module]bool{}}
	for _, o := range opts {
		o(a)
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	var need needs
	for _, m := range targets[cfg.Target] {
		a.modules[m] = true
		need = need.or(moduleNeeds[m])
	}
	if !cfg.Webhooks.Enabled() {
		need.events, need.deliveries = false, false
	}
	if err := a.openStores(ctx, need); err != nil {
		return nil, err
	}
	if a.modules[modIngest] || a.modules[modStatus] || a.modules[modProcessor] || a.modules[modAdmin] {
		if err := a.buildGRPC(); err != nil {
			return nil, err
		}
	}
	if a.modules[modGateway] {
		if err := a.buildGateway(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *App) openStores(ctx context.Context, need needs) error {
	var err error
	if need.originals {
		if a.originals, err = blob.Open(ctx, a.cfg.OriginalsURL); err != nil {
			return fmt.Errorf("originals store: %w", err)
		}
		a.closers = append(a.closers, a.originals.Close)
	}
	if need.variants {
		if a.variants, err = blob.Open(ctx, a.cfg.VariantsURL); err != nil {
			return fmt.Errorf("variants store: %w", err)
		}
		a.closers = append(a.closers, a.variants.Close)
		if a.wrapVariants != nil {
			a.variants = a.wrapVariants(a.variants)
		}
	}
	if need.queue {
		if a.queue, err = queue.Open(ctx, a.cfg.QueueURL); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		a.closers = append(a.closers, a.queue.Close)
		if err := a.checkRedrive(); err != nil {
			return err
		}
	}
	if need.records {
		if a.records, err = records.Open(ctx, a.cfg.StatusURL); err != nil {
			return fmt.Errorf("status store: %w", err)
		}
		a.closers = append(a.closers, a.records.Close)
	}
	if need.events {
		if a.events, err = queue.Open(ctx, a.cfg.EventsURL); err != nil {
			return fmt.Errorf("events queue: %w", err)
		}
		a.closers = append(a.closers, a.events.Close)
	}
	if need.deliveries {
		if a.deliveries, err = deliveries.Open(ctx, a.cfg.StatusURL); err != nil {
			return fmt.Errorf("webhook delivery log: %w", err)
		}
		a.closers = append(a.closers, a.deliveries.Close)
	}
	return nil
}

// checkRedrive refuses a queue whose max receive count is not the
// processor's max attempts + 1: with fewer, the queue dead-letters a job
// before its last attempt can mark the image FAILED; with more, a given-up
// job is received again instead of reaching the dead-letter queue.
func (a *App) checkRedrive() error {
	q, ok := a.queue.(interface{ MaxReceive() int })
	if !ok || !a.modules[modProcessor] {
		return nil
	}
	if got, want := q.MaxReceive(), a.cfg.Processor.MaxAttempts+1; got != want {
		return fmt.Errorf("queue %s: max_receive=%d, but processor.max-attempts=%d needs max_receive=%d",
			redact(a.cfg.QueueURL), got, a.cfg.Processor.MaxAttempts, want)
	}
	return nil
}

func (a *App) buildGRPC() error {
	lis, err := net.Listen("tcp", a.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	a.grpcLis = lis
	a.grpcServer = grpc.NewServer(
		grpc.WaitForHandlers(true), // stores close only after handlers return
		grpc.ChainUnaryInterceptor(trace.UnaryInterceptor(), apperr.UnaryInterceptor(a.log)),
		grpc.ChainStreamInterceptor(trace.StreamInterceptor(), apperr.StreamInterceptor(a.log)),
	)
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.grpcServer, a.health)
	reflection.Register(a.grpcServer)
	presets := spec.Builtin()
	if a.cfg.PresetsFile != "" {
		var err error
		if presets, err = spec.LoadPresets(a.cfg.PresetsFile); err != nil {
			return fmt.Errorf("presets: %w", err)
		}
	}
	var serving []string
	if a.modules[modIngest] {
		var callbacks ingest.CallbackCheck
		if a.cfg.Webhooks.Enabled() {
			callbacks = webhooks.NewGuard(a.cfg.Webhooks.AllowNets).CheckURL
		}
		svc, err := ingest.New(a.cfg.Ingest, a.originals, a.queue, a.records, presets, callbacks, a.log.With("module", "ingest"))
		if err != nil {
			return err
		}
		pb.RegisterIngestServiceServer(a.grpcServer, svc)
		serving = append(serving, pb.IngestService_ServiceDesc.ServiceName)
	}
	if a.modules[modStatus] {
		pb.RegisterStatusServiceServer(a.grpcServer, status.New(a.cfg.Status, a.records))
		serving = append(serving, pb.StatusService_ServiceDesc.ServiceName)
	}
	if a.modules[modAdmin] {
		pb.RegisterAdminServiceServer(a.grpcServer, admin.New(a.queue, a.records, a.deliveries, a.events, a.log.With("module", "admin")))
		serving = append(serving, pb.AdminService_ServiceDesc.ServiceName)
	}
	if a.modules[modWebhooks] && a.cfg.Webhooks.Enabled() {
		d, err := webhooks.NewDispatcher(a.cfg.Webhooks, webhooks.Deps{Events: a.events, Deliveries: a.deliveries, Records: a.records, Log: a.log.With("module", "webhooks")})
		if err != nil {
			return err
		}
		a.dispatcher = d
	}
	if a.modules[modProcessor] {
		// The worker pool uses the cores; each job has JobThreads (1 by
		// default: the most images per core, see processor.Config).
		n := a.cfg.Processor.JobThreads
		imaging.Startup(imaging.Config{Concurrency: n, Parallelism: n})
		proc, err := processor.New(a.cfg.Processor, processor.Deps{Presets: presets, Originals: a.originals, Variants: a.variants,
			Queue: a.queue, Events: a.events, Records: a.records, Log: a.log.With("module", "processor")})
		if err != nil {
			return err
		}
		a.proc = proc
		pb.RegisterProcessorServiceServer(a.grpcServer, processor.NewService(presets, a.records, a.queue))
		serving = append(serving, pb.ProcessorService_ServiceDesc.ServiceName)
	}
	for _, s := range append(serving, "") {
		a.health.SetServingStatus(s, healthpb.HealthCheckResponse_SERVING)
	}
	return nil
}

// dialAddr turns a listen address into one to dial (":9090" -> "localhost:9090").
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return net.JoinHostPort("localhost", port)
	}
	return addr
}

func (a *App) buildGateway(ctx context.Context) error {
	// AdminService runs in the status target.
	addrs := map[string]string{"ingest": a.cfg.IngestAddr, "status": a.cfg.StatusAddr, "processor": a.cfg.ProcessorAddr, "admin": a.cfg.StatusAddr}
	if a.cfg.Target == TargetAll {
		own := dialAddr(a.grpcLis.Addr().String())
		addrs = map[string]string{"ingest": own, "status": own, "processor": own, "admin": own}
	}
	conns := map[string]*grpc.ClientConn{}
	for name, addr := range addrs {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("dial %s service at %s: %w", name, addr, err)
		}
		a.conns = append(a.conns, conn)
		conns[name] = conn
	}
	h, err := gateway.New(ctx, a.cfg.Gateway,
		gateway.Conns{Ingest: conns["ingest"], Status: conns["status"], Processor: conns["processor"], Admin: conns["admin"]},
		a.variants, a.log.With("module", "gateway"))
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	a.httpLis = lis
	a.httpServer = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// GRPCAddr is the bound gRPC address ("" when the target has none).
func (a *App) GRPCAddr() string {
	if a.grpcLis == nil {
		return ""
	}
	return a.grpcLis.Addr().String()
}

// HTTPAddr is the bound HTTP address ("" when the target has none).
func (a *App) HTTPAddr() string {
	if a.httpLis == nil {
		return ""
	}
	return a.httpLis.Addr().String()
}

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	start := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	if a.grpcServer != nil {
		start("grpc", func() error { return a.grpcServer.Serve(a.grpcLis) })
	}
	if a.httpServer != nil {
		start("http", func() error { return a.httpServer.Serve(a.httpLis) })
	}
	if a.proc != nil {
		start("processor", func() error { return a.proc.Run(ctx) })
	}
	if a.dispatcher != nil {
		start("webhooks", func() error { return a.dispatcher.Run(ctx) })
	}
	a.log.Info("imagepipe started", "target", a.cfg.Target, "grpc", a.GRPCAddr(), "http", a.HTTPAddr(),
		"originals", a.cfg.OriginalsURL, "variants", a.cfg.VariantsURL, "queue", redact(a.cfg.QueueURL), "status", a.cfg.StatusURL)
	<-ctx.Done()
	if a.health != nil {
		a.health.Shutdown()
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if a.httpServer != nil {
		_ = a.httpServer.Shutdown(shutdownCtx)
	}
	if a.grpcServer != nil {
		stopped := make(chan struct{})
		go func() { a.grpcServer.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-shutdownCtx.Done():
			a.grpcServer.Stop()
		}
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func redact(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

func (a *App) close() {
	for _, c := range a.conns {
		_ = c.Close()
	}
	for _, l := range []net.Listener{a.grpcLis, a.httpLis} {
		if l != nil {
			_ = l.Close()
		}
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
	a.closers = nil
}
