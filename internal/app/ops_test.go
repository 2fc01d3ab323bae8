package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/testkit/promtest"
)

// unreachable is a variants store that cannot be reached.
type unreachable struct{ blob.Store }

func (unreachable) Head(context.Context, string) (blob.Attrs, error) {
	return blob.Attrs{}, errors.New("simulated: connection refused")
}

// A target without HTTP serves /metrics, /healthz, /readyz and pprof on
// its ops listener; /readyz is 503 while a store it needs is unreachable.
func TestOpsListener(t *testing.T) {
	for _, c := range []struct {
		name      string
		target    string
		opts      []app.Option
		service   string // a gRPC service whose metrics it has
		wantReady int
		wantWhy   string
	}{
		{"ingest", app.TargetIngest, nil, "imagepipe.v1.IngestService", http.StatusOK, limits.StateReady},
		{"processor without variants", app.TargetProcessor,
			[]app.Option{app.WithVariantsStore(func(s blob.Store) blob.Store { return unreachable{s} })},
			"imagepipe.v1.ProcessorService", http.StatusServiceUnavailable, "variants store unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := app.DefaultConfig()
			cfg.Target, cfg.DataDir = c.target, t.TempDir()
			cfg.HTTPAddr, cfg.GRPCAddr, cfg.OpsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			cfg.Limits.ReadyInterval = limits.MinReadyInterval
			a, err := app.New(t.Context(), cfg, logging.New(io.Discard, "error"), c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			defer func() { cancel(); <-done }()
			base := "http://" + a.OpsAddr()

			m := promtest.Scrape(t, base+"/metrics")
			if _, ok := m.Value("grpc_server_handled_total", map[string]string{"grpc_service": c.service}); !ok {
				t.Errorf("no grpc_server_handled_total of %s", c.service)
			}
			if v, _ := m.Value("imagepipe_build_info", nil); v != 1 {
				t.Errorf("imagepipe_build_info = %v", v)
			}
			if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
				t.Errorf("/healthz: %d", code)
			}
			if code, body := get(t, base+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
				t.Errorf("/debug/pprof/: %d", code)
			}
			var code int
			var body struct {
				Ready  bool              `json:"ready"`
				Checks map[string]string `json:"checks"`
			}
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				var raw string
				code, raw = get(t, base+"/readyz")
				if err := json.Unmarshal([]byte(raw), &body); err != nil {
					t.Fatalf("/readyz: %v: %s", err, raw)
				}
				if code == c.wantReady && body.Checks[c.service] == c.wantWhy {
					break
				}
			}
			if code != c.wantReady || body.Checks[c.service] != c.wantWhy || body.Ready != (c.wantReady == http.StatusOK) {
				t.Errorf("/readyz: %d %+v, want %d with %s %q", code, body, c.wantReady, c.service, c.wantWhy)
			}
		})
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
