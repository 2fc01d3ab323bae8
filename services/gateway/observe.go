package gateway

import (
	"log/slog"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/imagepipe/imagepipe/internal/platform/metrics"
	"github.com/imagepipe/imagepipe/internal/platform/trace"
	"github.com/prometheus/client_golang/prometheus"
)

// observe wraps the gateway's handler in what sees every request first:
// a span (OpenTelemetry, child of the request's traceparent), then the
// HTTP metrics when there is a registry. Both learn the route from the
// router (routed).
func (g *Gateway) observe(h http.Handler, reg *prometheus.Registry) http.Handler {
	if reg != nil {
		h = metrics.NewHTTP(reg).Middleware(h)
	}
	return trace.HTTPHandler(h, "gateway")
}

// routed is the router's middleware: it gives the request's span and
// metrics the route pattern matched ("/v1/images/{id}"), never the path,
// so the labels stay bounded, and logs the request at debug level (with
// its trace).
func routed(log *slog.Logger) runtime.Middleware {
	return func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
			if p, ok := runtime.HTTPPattern(r.Context()); ok {
				route := metrics.RoutePattern(p.String())
				metrics.SetRoute(r.Context(), route)
				trace.Rename(r.Context(), r.Method, route)
				log.DebugContext(r.Context(), "request", "method", r.Method, "route", route)
			}
			next(w, r, params)
		}
	}
}

// serveMetrics serves the registry on /metrics, without credentials like
// /healthz: its labels are bounded (routes, codes, methods, outcomes), no
// tenant, image or key appears in it.
func serveMetrics(reg *prometheus.Registry) runtime.HandlerFunc {
	h := metrics.Handler(reg)
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) { h.ServeHTTP(w, r) }
}
