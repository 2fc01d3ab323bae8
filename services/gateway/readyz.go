package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"google.golang.org/grpc"
)

// readyzTimeout bounds the checks of one /readyz.
const readyzTimeout = 2 * time.Second

// ReadyBody is the answer of /readyz: whether the server can take more
// work, and each service's check, "ok" or why not (saturated, starting,
// not serving, unreachable).
type ReadyBody struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// readyz is 200 when every service can take more work, 503 naming those
// that cannot. Each service's process says so through the gRPC health
// service (limits.ReadyService), so a saturated ingest or processor target
// reaches this answer however the targets are split. /healthz stays the
// liveness probe: a saturated service is alive.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
	defer cancel()
	body := g.readiness(ctx)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusOK
	if !body.Ready {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// readyTarget is a service /readyz asks: its name in the answer, its
// gRPC service name and the connection to the process running it.
type readyTarget struct {
	name, service string
	conn          grpc.ClientConnInterface
}

// readiness asks every service at once.
func (g *Gateway) readiness(ctx context.Context) ReadyBody {
	services := []readyTarget{
		{"ingest", pb.IngestService_ServiceDesc.ServiceName, g.conns.Ingest},
		{"status", pb.StatusService_ServiceDesc.ServiceName, g.conns.Status},
		{"processor", pb.ProcessorService_ServiceDesc.ServiceName, g.conns.Processor},
	}
	if g.conns.hasAdmin() {
		services = append(services, readyTarget{"admin", pb.AdminService_ServiceDesc.ServiceName, g.conns.Admin})
	}
	body := ReadyBody{Ready: true, Checks: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() {
			ready, state := limits.CheckReady(ctx, s.conn, s.service)
			mu.Lock()
			defer mu.Unlock()
			body.Checks[s.name] = state
			body.Ready = body.Ready && ready
		})
	}
	wg.Wait()
	return body
}
