package limits_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// readyServer serves a health server with r's readiness on loopback.
func readyServer(t *testing.T) (*limits.Readiness, *health.Server, *grpc.ClientConn) {
	t.Helper()
	h := health.NewServer()
	r := limits.NewReadiness(h, slog.New(slog.DiscardHandler))
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, r.Server())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return r, h, conn
}

func TestReadyReasonReachesTheClient(t *testing.T) {
	r, h, conn := readyServer(t)
	ctx := t.Context()
	var backlog atomic.Int64
	r.Add("svc.Busy", func(context.Context) string {
		if n := backlog.Load(); n > 10 {
			return "backlog of " + strconv.FormatInt(n, 10) + " jobs"
		}
		return ""
	}, func(context.Context) string { return "" })
	r.Add("svc.Idle")
	h.SetServingStatus("svc.Busy", healthpb.HealthCheckResponse_SERVING)

	type want struct {
		ready bool
		state string
	}
	check := func(step, service string, w want) {
		t.Helper()
		if ready, state := limits.CheckReady(ctx, conn, service); ready != w.ready || state != w.state {
			t.Errorf("%s: %s is %v %q, want %v %q", step, service, ready, state, w.ready, w.state)
		}
	}
	check("before the first update", "svc.Busy", want{false, limits.StateStarting})

	r.Update(ctx, time.Second)
	check("idle", "svc.Busy", want{true, limits.StateReady})
	check("idle", "svc.Idle", want{true, limits.StateReady})

	backlog.Store(50)
	r.Update(ctx, time.Second)
	check("saturated", "svc.Busy", want{false, "backlog of 50 jobs"})
	check("saturated", "svc.Idle", want{true, limits.StateReady})
	// The service's own name, the liveness of the process, stays SERVING.
	if resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "svc.Busy"}); err != nil ||
		resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("svc.Busy itself: %v %v, want SERVING", resp.GetStatus(), err)
	}

	backlog.Store(0)
	r.Update(ctx, time.Second)
	check("drained", "svc.Busy", want{true, limits.StateReady})

	h.Shutdown()
	check("shutting down", "svc.Busy", want{false, limits.StateNotServing})
	r.Update(ctx, time.Second) // after Shutdown, updates change nothing
	check("updated after shutdown", "svc.Busy", want{false, limits.StateNotServing})
}

func TestCheckReadyOfAnUnreachableServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if ready, state := limits.CheckReady(ctx, conn, "svc"); ready || state != limits.StateUnreachable {
		t.Errorf("%v %q, want unreachable", ready, state)
	}
}

func TestReadyWatchSeesSaturation(t *testing.T) {
	r, _, conn := readyServer(t)
	var saturated atomic.Bool
	r.Add("svc", func(context.Context) string {
		if saturated.Load() {
			return "saturated"
		}
		return ""
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go r.Run(ctx, limits.MinReadyInterval)
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: limits.ReadyService("svc")})
	if err != nil {
		t.Fatal(err)
	}
	next := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			resp, err := w.Recv()
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if resp.GetStatus() == want {
				return
			}
		}
	}
	next(healthpb.HealthCheckResponse_SERVING)
	saturated.Store(true)
	next(healthpb.HealthCheckResponse_NOT_SERVING)
	saturated.Store(false)
	next(healthpb.HealthCheckResponse_SERVING)
}

func TestReadyUploadsCheck(t *testing.T) {
	l := mustNew(t, limits.Config{UploadsInFlight: 2})
	const window = 200 * time.Millisecond
	check := l.UploadsCheck(window)
	ctx := t.Context()
	if s := check(ctx); s != "" {
		t.Fatalf("idle: %q", s)
	}
	r1, _ := l.AcquireUpload("")
	if s := check(ctx); s != "" {
		t.Errorf("1 of 2: %q", s)
	}
	r2, _ := l.AcquireUpload("")
	if s := check(ctx); !strings.Contains(s, "2/2 uploads in flight") {
		t.Errorf("2 of 2: %q", s)
	}
	r2()
	if s := check(ctx); !strings.Contains(s, "within the last 200ms") {
		t.Errorf("just after the cap was reached: %q", s)
	}
	time.Sleep(window)
	if s := check(ctx); s != "" {
		t.Errorf("a window after: %q", s)
	}
	r1()
	if s := mustNew(t, limits.Config{}).UploadsCheck(window)(ctx); s != "" {
		t.Errorf("without a cap: %q", s)
	}
}
