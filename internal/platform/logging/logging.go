// Package logging builds the process logger: JSON lines through log/slog,
// each line written inside a traced request carrying its trace_id and
// span_id.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	oteltrace "go.opentelemetry.io/otel/trace"
)

// ParseLevel reads a level name: debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// New returns the process logger: JSON lines at the configured level,
// with the trace of the context they are logged with (log with the
// ...Context methods, or the line has none).
func New(w io.Writer, level string) *slog.Logger {
	l, err := ParseLevel(level)
	if err != nil {
		l = slog.LevelInfo
	}
	return slog.New(WithTrace(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

// WithTrace wraps h so that a record logged with a context holding a
// valid span gets the span's trace_id and span_id attributes (inside the
// open group, after WithGroup).
func WithTrace(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (t traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := oteltrace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return t.Handler.Handle(ctx, r)
}

func (t traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{t.Handler.WithAttrs(attrs)}
}

func (t traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{t.Handler.WithGroup(name)}
}
