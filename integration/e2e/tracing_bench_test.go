package e2e_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// BenchmarkTracing measures what tracing costs a request through the
// all-in-one server: off (no SDK, the default) and on (the SDK sampling
// everything, batching spans to the console exporter writing to
// io.Discard, as OTEL_TRACES_EXPORTER=console > /dev/null would). Two
// requests: GET /v1/images/{id} (gateway → StatusService, where the
// spans weigh most) and a small REST upload (gateway → IngestService).
// Run: go test -run '^$' -bench Tracing -count 6 ./integration/e2e/
func BenchmarkTracing(b *testing.B) {
	photo := imagetest.Fixture(b, "grey.jpg")
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "on" {
				installDiscardTracing(b)
			}
			cfg := testConfig(b.TempDir())
			cfg.LogLevel = "error"
			cfg.Limits.RPS, cfg.Limits.Burst = 0, 0 // no rate limit
			cfg.Processor.Workers = 1
			s := start(b, cfg)
			id := s.post(b, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(photo)).image(b).GetId()
			b.Run("get", func(b *testing.B) {
				for range b.N {
					if r := s.get(b, "/v1/images/"+id); r.code != http.StatusOK {
						b.Fatalf("GET: %d", r.code)
					}
				}
			})
			b.Run("upload", func(b *testing.B) {
				for range b.N {
					if r := s.post(b, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(photo)); r.code != http.StatusAccepted {
						b.Fatalf("upload: %d %s", r.code, r.body)
					}
				}
			})
		})
	}
}

// installDiscardTracing installs, for the benchmark, an SDK tracer
// provider exporting every span to the console exporter into io.Discard.
func installDiscardTracing(b *testing.B) {
	exp, err := stdouttrace.New(stdouttrace.WithWriter(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	otel.SetTracerProvider(tp)
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		otel.SetTracerProvider(noop.NewTracerProvider())
	})
}
