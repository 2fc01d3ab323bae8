package app_test

import (
	"context"
	"io"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Each target publishes the readiness of the services it runs, and only
// those, in its gRPC health service: what the gateway's /readyz reads
// when the targets run apart.
func TestReadyPublishedByEveryTarget(t *testing.T) {
	dir := t.TempDir()
	services := map[string]string{
		"ingest":    pb.IngestService_ServiceDesc.ServiceName,
		"processor": pb.ProcessorService_ServiceDesc.ServiceName,
		"status":    pb.StatusService_ServiceDesc.ServiceName,
		"admin":     pb.AdminService_ServiceDesc.ServiceName,
	}
	for _, c := range []struct {
		target string
		runs   []string
	}{
		{app.TargetIngest, []string{"ingest"}},
		{app.TargetProcessor, []string{"processor"}},
		{app.TargetStatus, []string{"status", "admin"}},
	} {
		t.Run(c.target, func(t *testing.T) {
			cfg := app.DefaultConfig()
			cfg.Target, cfg.DataDir = c.target, dir
			cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
			cfg.Limits.MaxBacklog = 1000
			cfg.Limits.ReadyInterval = limits.MinReadyInterval
			a, err := app.New(t.Context(), cfg, logging.New(io.Discard, "error"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			defer func() { cancel(); <-done }()
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for name, service := range services {
				want := limits.StateStarting // not published: not run here
				for _, r := range c.runs {
					if r == name {
						want = limits.StateReady
					}
				}
				var state string
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if _, state = limits.CheckReady(ctx, conn, service); state == want {
						break
					}
				}
				if state != want {
					t.Errorf("%s: %q, want %q", name, state, want)
				}
			}
		})
	}
}
