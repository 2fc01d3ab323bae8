package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// readiness is what the gRPC server's process says about taking more
// work (see limits.Readiness): each service it serves has a ready name in
// the health service, which the gateway's /readyz reads, whichever process
// runs it.
//   - IngestService is saturated while the process has every upload slot
//     taken (limits.uploads-in-flight).
//   - ProcessorService is saturated while more than limits.max-backlog
//     jobs wait in the job queue (when set).
//   - The others are ready while the process serves.
//
// Every service is also unready while a store it needs does not answer
// (storeChecks): a cheap read of each, every check interval.
type readiness struct {
	limiter *limits.Limiter // the fair limits of the gRPC server
	pub     *limits.Readiness
}

// healthServer is the health service the gRPC server registers: a.health,
// with every service's readiness, checked every limits.ready-interval
// from the start of Run.
func (a *App) healthServer() healthpb.HealthServer {
	a.ready.pub = limits.NewReadiness(a.health, a.log.With("module", "readiness"))
	every := a.cfg.Limits.ReadyEvery()
	a.addRunner(runner{name: "readiness", run: func(ctx context.Context) error {
		a.declareReadiness(every) // the services are all registered by now
		return a.ready.pub.Run(ctx, every)
	}})
	return a.ready.pub.Server()
}

// declareReadiness gives each service served its checks.
func (a *App) declareReadiness(every time.Duration) {
	for _, s := range a.serving {
		checks := a.storeChecks(s)
		switch s {
		case pb.IngestService_ServiceDesc.ServiceName:
			checks = append(checks, a.ready.limiter.UploadsCheck(every))
		case pb.ProcessorService_ServiceDesc.ServiceName:
			if most := a.cfg.Limits.MaxBacklog; most > 0 {
				checks = append(checks, a.backlogCheck(most))
			}
		}
		a.ready.pub.Add(s, checks...)
	}
}

// backlogCheck finds the processor saturated while more than most jobs
// wait in the job queue (visible or delayed for a retry; those being
// worked on are bounded by the workers). The queue's counts are
// approximate, like SQS's.
func (a *App) backlogCheck(most int64) limits.Check {
	return func(ctx context.Context) string {
		st, err := a.queue.Stats(ctx)
		if err != nil {
			return "" // the job queue's store check says it
		}
		if n := st.Visible + st.Delayed; n > most {
			return fmt.Sprintf("saturated: backlog of %d jobs waiting (limit %d)", n, most)
		}
		return ""
	}
}

// probeKey is what the store checks look up: nothing is stored under it,
// so a store that answers "not found" is reachable.
const probeKey = "imagepipe-readiness-probe"

// storeChecks are the reachability checks of the stores service needs.
func (a *App) storeChecks(service string) []limits.Check {
	var stores []string
	switch service {
	case pb.IngestService_ServiceDesc.ServiceName:
		stores = []string{Originals, JobQueue, Records}
	case pb.ProcessorService_ServiceDesc.ServiceName:
		stores = []string{Originals, Variants, JobQueue, Records}
	case pb.StatusService_ServiceDesc.ServiceName:
		stores = []string{Records}
	case pb.AdminService_ServiceDesc.ServiceName:
		stores = []string{JobQueue, Records}
	}
	checks := make([]limits.Check, 0, len(stores))
	for _, name := range stores {
		if probe := a.storeProbe(name); probe != nil {
			checks = append(checks, a.reachable(name, probe))
		}
	}
	return checks
}

// storeProbe is a cheap read of the store module name opened (nil when
// it opened none).
func (a *App) storeProbe(name string) func(context.Context) error {
	head := func(s blob.Store) func(context.Context) error {
		if s == nil {
			return nil
		}
		return func(ctx context.Context) error {
			if _, err := s.Head(ctx, probeKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return err
			}
			return nil
		}
	}
	switch name {
	case Originals:
		return head(a.originals)
	case Variants:
		return head(a.variants)
	case JobQueue:
		if a.queue != nil {
			return func(ctx context.Context) error { _, err := a.queue.Stats(ctx); return err }
		}
	case Records:
		if a.records != nil {
			return func(ctx context.Context) error {
				if _, err := a.records.Get(ctx, probeKey); err != nil && !errors.Is(err, records.ErrNotFound) {
					return err
				}
				return nil
			}
		}
	}
	return nil
}

// reachable is the check that store name answers its probe; the error is
// logged, the answer only names the store.
func (a *App) reachable(name string, probe func(context.Context) error) limits.Check {
	return func(ctx context.Context) string {
		if err := probe(ctx); err != nil {
			a.log.WarnContext(ctx, "readiness: store unreachable", "store", name, "err", err)
			return name + " store unreachable"
		}
		return ""
	}
}
