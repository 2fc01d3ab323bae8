package app

import (
	"context"
	"fmt"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
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
		var checks []limits.Check
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
			a.log.Warn("readiness: job queue counts", "err", err)
			return "job queue unreachable"
		}
		if n := st.Visible + st.Delayed; n > most {
			return fmt.Sprintf("saturated: backlog of %d jobs waiting (limit %d)", n, most)
		}
		return ""
	}
}
