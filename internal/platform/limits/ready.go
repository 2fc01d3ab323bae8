package limits

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Readiness says, through the standard gRPC health service, whether each
// service of a process can take more work now. A service's readiness has
// a name of its own, ReadyService(service): it is NOT_SERVING while one
// of its checks finds the service saturated, and the Check answer then
// carries why in its ReasonTrailer. The service's own name keeps saying
// whether the process is alive, so a liveness probe (the gateway's
// /healthz) is not failed by a queue that grows.
type Readiness struct {
	health *health.Server
	log    *slog.Logger

	mu      sync.Mutex
	checks  map[string][]Check // by service name
	reasons map[string]string  // by ready name; "" ready
}

// Check says why its service cannot take more work now, or "" when it
// can. It returns within ctx; what it says goes to clients as it is, so
// it names the limit reached and no internals.
type Check func(ctx context.Context) string

// ReadyService is the health service name that says whether service can
// take more work now.
func ReadyService(service string) string { return service + "/ready" }

// ReasonTrailer is the trailer of a Check on a ready name that is
// NOT_SERVING: why, as the checks said it.
const ReasonTrailer = "imagepipe-not-ready"

// NewReadiness publishes readiness on h.
func NewReadiness(h *health.Server, log *slog.Logger) *Readiness {
	return &Readiness{health: h, log: log, checks: map[string][]Check{}, reasons: map[string]string{}}
}

// Add declares service's readiness, with its checks (none: ready as long
// as the process serves).
func (r *Readiness) Add(service string, checks ...Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[service] = append(r.checks[service], checks...)
}

// Update runs every check, each within timeout, and publishes the
// results; a service turning unready or ready again is logged.
func (r *Readiness) Update(ctx context.Context, timeout time.Duration) {
	r.mu.Lock()
	checks := maps.Clone(r.checks)
	r.mu.Unlock()
	for _, service := range slices.Sorted(maps.Keys(checks)) {
		var why []string
		for _, c := range checks[service] {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			if s := c(cctx); s != "" {
				why = append(why, s)
			}
			cancel()
		}
		r.publish(service, strings.Join(why, "; "))
	}
}

func (r *Readiness) publish(service, reason string) {
	name := ReadyService(service)
	r.mu.Lock()
	was, known := r.reasons[name]
	r.reasons[name] = reason
	r.mu.Unlock()
	st := healthpb.HealthCheckResponse_SERVING
	if reason != "" {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	r.health.SetServingStatus(name, st) // a no-op once the server shuts down
	switch {
	case reason != "" && reason != was:
		r.log.Warn("not ready", "service", service, "reason", reason)
	case reason == "" && known && was != "":
		r.log.Info("ready again", "service", service)
	}
}

// reason is why ready name is not ready ("" when it is).
func (r *Readiness) reason(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reasons[name]
}

// State is the readiness last published: ready when every service is,
// and each service's state, StateReady or why not. It has no service
// before the first Update.
func (r *Readiness) State() (ready bool, checks map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ready, checks = true, make(map[string]string, len(r.reasons))
	for name, why := range r.reasons {
		service := strings.TrimSuffix(name, "/ready")
		if why == "" {
			why = StateReady
		}
		checks[service] = why
		ready = ready && why == StateReady
	}
	return ready, checks
}

// Run updates the readiness every interval until ctx ends.
func (r *Readiness) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.Update(ctx, max(interval, time.Second))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Server is the health server to register: the health server given to
// NewReadiness, whose Check answers on a ready name that is NOT_SERVING
// carry the reason in ReasonTrailer.
func (r *Readiness) Server() healthpb.HealthServer { return readyHealth{Server: r.health, r: r} }

type readyHealth struct {
	*health.Server
	r *Readiness
}

func (h readyHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	resp, err := h.Server.Check(ctx, req)
	if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
		if why := h.r.reason(req.GetService()); why != "" {
			_ = grpc.SetTrailer(ctx, metadata.Pairs(ReasonTrailer, why))
		}
	}
	return resp, err
}

// Ready states a client finds, by CheckReady.
const (
	StateReady       = "ok"
	StateNotServing  = "not serving"
	StateStarting    = "starting"
	StateUnreachable = "unreachable"
)

// CheckReady asks conn whether service can take more work: StateReady,
// the reason it gave, StateNotServing (shutting down, or no reason
// given), StateStarting (the server does not publish its readiness yet)
// or StateUnreachable.
func CheckReady(ctx context.Context, conn grpc.ClientConnInterface, service string) (ready bool, state string) {
	var trailer metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: ReadyService(service)}, grpc.Trailer(&trailer))
	switch {
	case status.Code(err) == codes.NotFound:
		return false, StateStarting
	case err != nil:
		return false, StateUnreachable
	case resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
		return true, StateReady
	}
	if why := trailer.Get(ReasonTrailer); len(why) > 0 && why[0] != "" {
		return false, why[0]
	}
	return false, StateNotServing
}
