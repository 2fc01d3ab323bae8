// Package app wires imagepipe's modules into one process for a target:
// everything (all) on a laptop, or one service per process in production,
// the way Grafana Tempo runs. Which modules a target runs, what each
// depends on and how each is built is declared once, in modules.go; this
// file opens and runs them. Separate targets talk only gRPC; stores are
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

	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"github.com/imagepipe/imagepipe/services/webhooks"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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
	cfg          Config
	log          *slog.Logger
	modules      map[string]bool // the modules the target runs (not the shared ones they need)
	wrapVariants func(blob.Store) blob.Store

	// Built by the shared modules; nil when no module of the target needs
	// them (events and deliveries also when webhooks are off).
	presets             *spec.Presets
	originals, variants blob.Store
	queue               queue.Queue
	records             records.Store
	events              queue.Queue
	deliveries          deliveries.Store
	tenants             tenants.Store
	authn               auth.Authenticator
	signer              *urlsign.Signer
	secrets             *webhooks.Secrets

	grpcLis    net.Listener
	grpcServer *grpc.Server
	health     *health.Server
	serving    []string // gRPC services registered, reported SERVING
	httpLis    net.Listener

	ready readiness // what health says of taking more work (ready.go)

	// metrics is the process's Prometheus registry. (h2 placeholder so
	// the services' Deps compile: h1's version of this field, and where it
	// is built and served, wins at merge.)
	metrics *prometheus.Registry

	runners []runner
	closers []func() error
}

// runner is something a module runs until the process stops: run blocks
// until ctx ends (or stop is called); stop, if set, ends it gracefully.
type runner struct {
	name string
	run  func(ctx context.Context) error
	stop func(ctx context.Context)
}

// New builds the target's modules in dependency order: stores opened,
// listeners bound, services registered. Nothing is served until Run.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts ...Option) (_ *App, err error) {
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	a := &App{cfg: cfg, log: log, modules: map[string]bool{}, metrics: prometheus.NewRegistry()}
	for _, o := range opts {
		o(a)
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	for _, m := range targets[cfg.Target] {
		a.modules[m] = true
	}
	for _, m := range order(cfg.Target) {
		if err := inits[m](a, ctx); err != nil {
			return nil, err
		}
	}
	if a.health != nil {
		for _, s := range append(a.serving, "") {
			a.health.SetServingStatus(s, healthpb.HealthCheckResponse_SERVING)
		}
	}
	return a, nil
}

// GRPCAddr is the bound gRPC address ("" when the target has none).
func (a *App) GRPCAddr() string { return addrOf(a.grpcLis) }

// Config is the configuration the app runs with, store URLs resolved.
func (a *App) Config() Config { return a.cfg }

// HTTPAddr is the bound HTTP address ("" when the target has none).
func (a *App) HTTPAddr() string { return addrOf(a.httpLis) }

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Run serves until ctx ends, then shuts down gracefully: health says
// NOT_SERVING, the runners stop in the reverse of their start (the HTTP
// server before the gRPC server it calls), workers finish or are abandoned
// to redelivery, and the stores close last.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(a.runners))
	for _, r := range a.runners {
		wg.Go(func() {
			if err := r.run(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("%s: %w", r.name, err)
				cancel()
			}
		})
	}
	a.log.Info("imagepipe started", "target", a.cfg.Target, "grpc", a.GRPCAddr(), "http", a.HTTPAddr(),
		"originals", a.cfg.OriginalsURL, "variants", a.cfg.VariantsURL, "queue", redact(a.cfg.QueueURL), "status", a.cfg.StatusURL)
	<-ctx.Done()
	if a.health != nil {
		a.health.Shutdown()
	}
	stopCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	for i := len(a.runners) - 1; i >= 0; i-- {
		if stop := a.runners[i].stop; stop != nil {
			stop(stopCtx)
		}
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func (a *App) addRunner(r runner) { a.runners = append(a.runners, r) }

func redact(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

func (a *App) close() {
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
