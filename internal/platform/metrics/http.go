package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OtherRoute is the route label of a request that matched no route.
const OtherRoute = "other"

// HTTP is the metrics of an HTTP server: imagepipe_http_requests_total
// {route,code} and imagepipe_http_request_duration_seconds{route}.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTP registers the HTTP metrics on reg.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time from a request's headers to the end of its answer, by route pattern.",
			Buckets: LatencyBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(h.requests, h.duration)
	return h
}

type routeKey struct{}

// route is where the router writes the pattern a request matched.
type route struct{ pattern string }

// SetRoute records the route pattern ctx's request matched; the router
// calls it (the middleware sees the request before routing).
func SetRoute(ctx context.Context, pattern string) {
	if r, ok := ctx.Value(routeKey{}).(*route); ok {
		r.pattern = pattern
	}
}

// RoutePattern turns a grpc-gateway pattern ("/a/{id=*}/{variant=*}")
// into the usual form ("/a/{id}/{variant}").
func RoutePattern(p string) string { return strings.ReplaceAll(p, "=*}", "}") }

// Middleware counts and times every request through next, labelled by
// the route SetRoute recorded (OtherRoute if none).
func (h *HTTP) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := &route{pattern: OtherRoute}
		cw := &codeWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), routeKey{}, rt)))
		code := cw.code
		if code == 0 {
			code = http.StatusOK
		}
		h.requests.WithLabelValues(rt.pattern, strconv.Itoa(code)).Inc()
		h.duration.WithLabelValues(rt.pattern).Observe(time.Since(start).Seconds())
	})
}

// codeWriter keeps the status code written. It has no ReadFrom, so a
// handler looking for one down the Unwrap chain (sendfile) passes it.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int) {
	if c.code == 0 && code >= 200 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

// Flush is for streams (SSE, grpc-gateway's server streams).
func (c *codeWriter) Flush() { _ = http.NewResponseController(c.ResponseWriter).Flush() }

// Unwrap is for http.ResponseController.
func (c *codeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
