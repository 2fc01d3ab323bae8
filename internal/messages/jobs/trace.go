package jobs

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// The trace of an upload continues through the queue: Enqueue puts the W3C
// trace context of its ctx (traceparent, and tracestate when there is one)
// in the job message's attributes, and the processor continues the trace
// from them (TraceContext). It is always W3C TraceContext, whatever
// propagators the process has configured: the attributes are part of the
// job's contract with processors of other versions, and a queue message
// has room for ten short attributes (queue.MaxAttributes), not for
// baggage.
var tracePropagator = propagation.TraceContext{}

// TraceAttributes returns the queue attributes that carry ctx's span
// context; empty when ctx has no valid one (the processor then starts a
// trace of its own).
func TraceAttributes(ctx context.Context) map[string]string {
	attrs := propagation.MapCarrier{}
	tracePropagator.Inject(ctx, attrs)
	return attrs
}

// TraceContext returns ctx carrying, as the remote parent of the spans
// started under it, the span context in a message's attributes; ctx
// unchanged when they hold none (or an invalid one: a message may come
// from anything that can write to the queue).
func TraceContext(ctx context.Context, attrs map[string]string) context.Context {
	return tracePropagator.Extract(ctx, propagation.MapCarrier(attrs))
}
