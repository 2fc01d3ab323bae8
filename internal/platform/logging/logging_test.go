package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/imagepipe/imagepipe/internal/platform/logging"
	oteltrace "go.opentelemetry.io/otel/trace"
)

func TestTraceIDs(t *testing.T) {
	tid, _ := oteltrace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := oteltrace.SpanIDFromHex("00f067aa0ba902b7")
	traced := oteltrace.ContextWithSpanContext(context.Background(),
		oteltrace.NewSpanContext(oteltrace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: oteltrace.FlagsSampled}))
	cases := []struct {
		name                string
		ctx                 context.Context
		wantTrace, wantSpan string
	}{
		{"traced", traced, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"},
		{"untraced", context.Background(), "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := logging.New(&buf, "info").With("module", "test")
			log.InfoContext(c.ctx, "hello", "k", "v")
			var line struct {
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
				Module  string `json:"module"`
			}
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line.Module != "test" {
				t.Fatalf("%v: %s", err, buf.String())
			}
			if line.TraceID != c.wantTrace || line.SpanID != c.wantSpan {
				t.Errorf("trace_id %q span_id %q, want %q %q: %s", line.TraceID, line.SpanID, c.wantTrace, c.wantSpan, buf.String())
			}
		})
	}
}
