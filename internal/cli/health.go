package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func init() {
	register("health", "check a running target (container health checks): -grpc ADDR or -http URL", health)
}

// health exits 0 when the target answers healthy: a gRPC target through
// the standard health service, the gateway through /healthz.
func health(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	grpcAddr := fs.String("grpc", "", "gRPC address to check, e.g. localhost:9090")
	httpURL := fs.String("http", "", "gateway base URL to check, e.g. http://localhost:8080")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after")
	return func(stdout, stderr io.Writer) int { return checkHealth(*grpcAddr, *httpURL, *timeout, stdout, stderr) }
}

func checkHealth(grpcAddr, httpURL string, timeout time.Duration, stdout, stderr io.Writer) int {
	if (grpcAddr == "") == (httpURL == "") {
		fmt.Fprintln(stderr, "imagepipe health: give exactly one of -grpc or -http")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if grpcAddr != "" {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintln(stderr, "imagepipe health:", err)
			return 1
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			fmt.Fprintf(stderr, "imagepipe health: %s not serving (%v)\n", grpcAddr, err)
			return 1
		}
		fmt.Fprintln(stdout, "SERVING")
		return 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, httpURL+"/healthz", nil)
	if err != nil {
		fmt.Fprintln(stderr, "imagepipe health:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "imagepipe health:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "imagepipe health: %s/healthz answered %d\n", httpURL, resp.StatusCode)
		return 1
	}
	fmt.Fprintln(stdout, "SERVING")
	return 0
}
