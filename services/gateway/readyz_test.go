package gateway_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"github.com/imagepipe/imagepipe/services/gateway"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// target is a process running one service, publishing its readiness as
// the app does, with a check the test turns.
type target struct {
	conn      *grpc.ClientConn
	ready     *limits.Readiness
	health    *health.Server
	srv       *grpc.Server
	saturated atomic.Value // string: why, "" when ready
}

func newTarget(t *testing.T, service string) *target {
	t.Helper()
	tg := &target{health: health.NewServer(), srv: grpc.NewServer()}
	tg.saturated.Store("")
	tg.ready = limits.NewReadiness(tg.health, slog.New(slog.DiscardHandler))
	tg.ready.Add(service, func(context.Context) string { return tg.saturated.Load().(string) })
	tg.health.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(tg.srv, tg.ready.Server())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = tg.srv.Serve(lis) }()
	t.Cleanup(tg.srv.Stop)
	tg.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.conn.Close() })
	return tg
}

// set makes the target saturated (why != "") or ready, at once.
func (tg *target) set(t *testing.T, why string) {
	tg.saturated.Store(why)
	tg.ready.Update(t.Context(), limits.MinReadyInterval)
}

func TestReadyz(t *testing.T) {
	ingest := newTarget(t, pb.IngestService_ServiceDesc.ServiceName)
	status := newTarget(t, pb.StatusService_ServiceDesc.ServiceName)
	processor := newTarget(t, pb.ProcessorService_ServiceDesc.ServiceName)
	conns := gateway.Conns{Ingest: ingest.conn, Status: status.conn, Processor: processor.conn, Admin: (*grpc.ClientConn)(nil)}
	h, err := gateway.New(t.Context(), gateway.DefaultConfig(), gateway.Deps{Conns: conns}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	get := func(t *testing.T) (int, gateway.ReadyBody) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz") // no credential: probes send none
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body gateway.ReadyBody
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
			t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
		}
		return resp.StatusCode, body
	}
	healthz := func(t *testing.T) int {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ok := limits.StateReady
	for _, c := range []struct {
		name    string
		before  func(t *testing.T)
		code    int
		checks  map[string]string
		healthz int
	}{
		{"starting", func(*testing.T) {}, 503, map[string]string{"ingest": limits.StateStarting, "status": limits.StateStarting, "processor": limits.StateStarting}, 200},
		{"ready", func(t *testing.T) { ingest.set(t, ""); status.set(t, ""); processor.set(t, "") }, 200,
			map[string]string{"ingest": ok, "status": ok, "processor": ok}, 200},
		{"processor backlog", func(t *testing.T) { processor.set(t, "saturated: backlog of 5000 jobs waiting (limit 1000)") }, 503,
			map[string]string{"ingest": ok, "status": ok, "processor": "saturated: backlog of 5000 jobs waiting (limit 1000)"}, 200},
		{"ingest too", func(t *testing.T) { ingest.set(t, "saturated: 64/64 uploads in flight") }, 503,
			map[string]string{"ingest": "saturated: 64/64 uploads in flight", "status": ok, "processor": "saturated: backlog of 5000 jobs waiting (limit 1000)"}, 200},
		{"drained", func(t *testing.T) { ingest.set(t, ""); processor.set(t, "") }, 200,
			map[string]string{"ingest": ok, "status": ok, "processor": ok}, 200},
		{"status shutting down", func(*testing.T) { status.health.Shutdown() }, 503,
			map[string]string{"ingest": ok, "status": limits.StateNotServing, "processor": ok}, 503},
		{"status gone", func(*testing.T) { status.srv.Stop() }, 503,
			map[string]string{"ingest": ok, "status": limits.StateUnreachable, "processor": ok}, 503},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.before(t)
			code, body := get(t)
			if code != c.code || body.Ready != (c.code == 200) || len(body.Checks) != len(c.checks) {
				t.Errorf("%d %+v, want %d", code, body, c.code)
			}
			for name, want := range c.checks {
				if body.Checks[name] != want {
					t.Errorf("%s: %q, want %q", name, body.Checks[name], want)
				}
			}
			// A saturated service is alive: /healthz stays 200.
			if got := healthz(t); got != c.healthz {
				t.Errorf("/healthz %d, want %d", got, c.healthz)
			}
		})
	}
}
