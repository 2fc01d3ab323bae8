// Package spantest records the spans a test makes: it installs an SDK
// tracer provider with an in-memory exporter as the global one (and the
// W3C propagator) for the test, and restores the previous ones after.
// Global state: a test using it must not run in parallel with another.
package spantest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// Install records every span ended from now until the test ends, in the
// exporter returned (spans are exported as they end). Build what makes
// the spans (the App, its gRPC handlers) after Install: instrumentation
// takes the global provider when it is built.
func Install(t testing.TB) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		// The first provider of a process is otel's delegate, which cannot
		// be set back: a no-op one stands for it.
		if _, ok := prevTP.(*sdktrace.TracerProvider); ok {
			otel.SetTracerProvider(prevTP)
		} else {
			otel.SetTracerProvider(noop.NewTracerProvider())
		}
		otel.SetTextMapPropagator(prevProp)
	})
	return exp
}

// ByName indexes spans by name (the last of each name wins).
func ByName(spans tracetest.SpanStubs) map[string]tracetest.SpanStub {
	out := make(map[string]tracetest.SpanStub, len(spans))
	for _, s := range spans {
		out[s.Name] = s
	}
	return out
}
