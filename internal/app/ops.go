package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"sync/atomic"

	"github.com/davidbyttow/govips/v2/vips"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"github.com/imagepipe/imagepipe/internal/platform/metrics"
	"github.com/prometheus/client_golang/prometheus"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The ops listener (IMAGEPIPE_OPS_ADDR, off by default) serves what an
// operator's tools ask of any target, those without HTTP included:
// /metrics, /healthz (liveness), /readyz (can it take work: 503 while a
// service is saturated or cannot reach its stores) and /debug/pprof/.
// It is meant for a private network: pprof shows the process's insides,
// so it is not on the public HTTP port.

// newRegistry is an App's registry: Go runtime and process collectors and
// imagepipe_build_info.
func newRegistry() *prometheus.Registry {
	return metrics.NewRegistry(buildVersion(), vips.Version)
}

// buildVersion is the module version the binary was built from, or
// "devel".
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// serviceName is the default OpenTelemetry service name of a target
// (OTEL_SERVICE_NAME overrides it): imagepipe for all, imagepipe-TARGET
// for the others, so a trace shows which process each span came from.
func serviceName(target string) string {
	if target == TargetAll {
		return "imagepipe"
	}
	return "imagepipe-" + target
}

// OpsAddr is the bound ops address ("" when there is none).
func (a *App) OpsAddr() string { return addrOf(a.opsLis) }

// initOps binds the ops listener when one is configured.
func (a *App) initOps() error {
	if a.cfg.OpsAddr == "" {
		return nil
	}
	lis, err := net.Listen("tcp", a.cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("ops listen: %w", err)
	}
	a.opsLis = lis
	var stopping atomic.Bool
	srv := &http.Server{Handler: a.opsMux(&stopping), ReadHeaderTimeout: a.cfg.Gateway.ReadHeaderTimeout}
	a.addRunner(runner{
		name: "ops",
		run:  func(context.Context) error { return srv.Serve(lis) },
		// The ops server stops last (runners stop in reverse): /healthz
		// and /metrics answer while the rest drains.
		stop: func(ctx context.Context) { stopping.Store(true); _ = srv.Shutdown(ctx) },
	})
	// Run starts the runners in order; the ops server must be first so it
	// is stopped last.
	a.runners = append(a.runners[len(a.runners)-1:], a.runners[:len(a.runners)-1]...)
	return nil
}

// opsMux routes the ops listener.
func (a *App) opsMux(stopping *atomic.Bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(a.metrics))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		code := http.StatusOK
		if stopping.Load() {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ok": code == http.StatusOK, "target": a.cfg.Target})
	})
	mux.HandleFunc("GET /readyz", a.opsReadyz)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// opsReadyz answers as the gateway's /readyz does: the gateway's own when
// the target runs one (it asks every service), else this process's
// services' readiness, published for the gRPC health service (ready.go).
func (a *App) opsReadyz(w http.ResponseWriter, r *http.Request) {
	if a.gateway != nil {
		a.gateway.ServeHTTP(w, r)
		return
	}
	ready, checks := false, map[string]string{}
	if a.ready.pub != nil {
		ready, checks = a.ready.pub.State()
		ready = ready && len(checks) > 0 // none: not published yet
	}
	if a.health != nil {
		if resp, err := a.health.Check(r.Context(), &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			ready, checks["process"] = false, limits.StateNotServing // shutting down
		}
	}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, map[string]any{"ready": ready, "checks": checks})
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
