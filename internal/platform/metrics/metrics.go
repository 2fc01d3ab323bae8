// Package metrics holds what every imagepipe process exposes to
// Prometheus: a registry per process (per App: tests run several in one),
// the build info, the gRPC server and client metrics, and the HTTP
// metrics of the gateway. Label values are bounded: routes are patterns,
// codes are status codes, never ids or file names.
package metrics

import (
	"net/http"
	"runtime"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes imagepipe's own metrics.
const Namespace = "imagepipe"

// NewRegistry is a process's registry with the Go runtime and process
// collectors and imagepipe_build_info{version,libvips} (always 1).
func NewRegistry(version, libvips string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "build_info",
			Help:        "Always 1: the imagepipe version and the libvips it runs with.",
			ConstLabels: prometheus.Labels{"version": version, "libvips": libvips, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return reg
}

// Handler serves reg in the Prometheus text (or OpenMetrics) format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true})
}

// LatencyBuckets are the histogram buckets of request durations, in
// seconds: 5 ms to 60 s (an upload that waits for its image is long).
var LatencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// GRPCServer is the metrics of a gRPC server (grpc_server_handled_total,
// grpc_server_handling_seconds, ... per service and method), registered
// on reg. Its interceptors go first in the chain, so they count the code
// the client gets.
func GRPCServer(reg prometheus.Registerer) *grpcprom.ServerMetrics {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(LatencyBuckets)))
	reg.MustRegister(m)
	return m
}

// GRPCClient is the metrics of gRPC client connections
// (grpc_client_handled_total, grpc_client_handling_seconds, ...),
// registered on reg.
func GRPCClient(reg prometheus.Registerer) *grpcprom.ClientMetrics {
	m := grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(grpcprom.WithHistogramBuckets(LatencyBuckets)))
	reg.MustRegister(m)
	return m
}
