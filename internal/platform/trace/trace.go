// Package trace sets up OpenTelemetry tracing for the process and gives
// the rest of imagepipe its few entry points: the gRPC stats handlers, the
// HTTP handler wrapper, and the W3C trace context carried in queue
// message attributes. Spans are made with otel.Tracer(name) anywhere; the
// SDK, when one is configured, is installed globally by Setup.
package trace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	oteltrace "go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/stats"
)

// Header is the W3C header, gRPC metadata key and queue attribute name.
const Header = "traceparent"

// ExporterEnv chooses the span exporter: otlp, console or none (the
// default: no SDK is installed and a span costs a context lookup).
const ExporterEnv = "OTEL_TRACES_EXPORTER"

var (
	setupOnce     sync.Once
	setupShutdown func(context.Context) error
	setupErr      error
)

// Setup configures tracing for the process from the standard OTEL_*
// environment, once (later calls return the first call's result): the W3C
// TraceContext propagator always, and, unless OTEL_TRACES_EXPORTER is
// unset or "none", an SDK tracer provider exporting through autoexport
// (otlp, console), installed globally. service is the default service
// name (OTEL_SERVICE_NAME overrides it). shutdown flushes the spans not
// yet exported; it is a no-op when no SDK was installed.
func Setup(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	setupOnce.Do(func() {
		setupShutdown, setupErr = setup(ctx, service, os.Getenv)
	})
	return setupShutdown, setupErr
}

func setup(ctx context.Context, service string, getenv func(string) string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	none := func(context.Context) error { return nil }
	if e := strings.TrimSpace(getenv(ExporterEnv)); e == "" || e == "none" {
		return none, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return none, err
	}
	// The environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins
	// over the default name: later detectors override earlier ones.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(semconv.ServiceName(service)), resource.WithFromEnv())
	if err != nil {
		return none, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// notHealth leaves the gRPC health service's calls untraced: probes and
// /readyz would otherwise fill the traces.
var notHealth = filters.Not(filters.ServicePrefix("grpc.health."))

// ServerHandler is the stats handler every gRPC server is built with: a
// span per call, child of the caller's trace context.
func ServerHandler() stats.Handler {
	return otelgrpc.NewServerHandler(otelgrpc.WithFilter(notHealth), otelgrpc.WithMessageEvents())
}

// ClientHandler is the stats handler of gRPC client connections: a span
// per call, its context sent in the call's metadata.
func ClientHandler() stats.Handler {
	return otelgrpc.NewClientHandler(otelgrpc.WithFilter(notHealth), otelgrpc.WithMessageEvents())
}

// HTTPHandler wraps h in a span per request, child of the request's
// traceparent when it has one; the span is named by Rename once the
// route is known.
func HTTPHandler(h http.Handler, operation string) http.Handler {
	return otelhttp.NewHandler(h, operation,
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
}

// Rename names the request's span after its route ("POST /v1/images").
func Rename(ctx context.Context, method, route string) {
	span := oteltrace.SpanFromContext(ctx)
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}

// w3c is the format of the trace context in queue messages, whatever
// propagator the process installs for HTTP and gRPC.
var w3c = propagation.TraceContext{}

// Inject writes ctx's trace context into a queue message's attributes
// (traceparent, and tracestate when there is one).
func Inject(ctx context.Context, attrs map[string]string) {
	w3c.Inject(ctx, propagation.MapCarrier(attrs))
}

// Extract returns ctx carrying the trace context of a queue message's
// attributes, as the remote parent of the spans started from it.
func Extract(ctx context.Context, attrs map[string]string) context.Context {
	return w3c.Extract(ctx, propagation.MapCarrier(attrs))
}

// IDs are the trace and span ids of ctx's span, "" when it has none.
func IDs(ctx context.Context) (traceID, spanID string) {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", ""
	}
	return sc.TraceID().String(), sc.SpanID().String()
}

// The helpers below predate the SDK: queue messages carried a bare
// traceparent. They keep working over the OpenTelemetry context.

var valid = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// Valid reports whether tp is a version-00 traceparent with non-zero ids.
func Valid(tp string) bool {
	return valid.MatchString(tp) && tp[3:35] != "00000000000000000000000000000000" && tp[36:52] != "0000000000000000"
}

// New starts a new trace: a random trace id and span id, sampled.
func New() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// ID is the trace id part of a traceparent ("" if invalid).
func ID(tp string) string {
	if !Valid(tp) {
		return ""
	}
	return tp[3:35]
}

// With returns ctx whose remote parent span is tp's (ctx unchanged when
// tp is not valid). Prefer Extract on the message's attributes.
func With(ctx context.Context, tp string) context.Context {
	if !Valid(tp) {
		return ctx
	}
	return Extract(ctx, map[string]string{Header: tp})
}

// From returns the traceparent of ctx's span, or a new one when ctx has
// none. Prefer Inject into the message's attributes.
func From(ctx context.Context) string {
	attrs := map[string]string{}
	Inject(ctx, attrs)
	if tp := attrs[Header]; Valid(tp) {
		return tp
	}
	return New()
}
