package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/gateway"
)

// A job queue growing faster than the processor drains it does not take
// ingest down: uploads keep answering 202 at once while the backlog grows,
// /readyz turns 503 naming the processor's backlog, and 200 again once
// the queue has drained (issue 12, fair limits).
func TestReadyzSaysProcessorBacklogWhileIngestAnswers(t *testing.T) {
	cfg := testConfig(t.TempDir())
	env := map[string]string{
		"IMAGEPIPE_PROCESSOR_WORKERS":     "1",
		"IMAGEPIPE_LIMITS_MAX_BACKLOG":    "3",
		"IMAGEPIPE_LIMITS_READY_INTERVAL": "100ms",
	}
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	// The processor's one worker hangs on its first variant until the
	// gate opens: nothing is drained meanwhile.
	gate := make(chan struct{})
	hang := func(ctx context.Context, _ string) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s := start(t, cfg, apptest.FailVariants(hang))
	waitReadyz(t, s, http.StatusOK, 10*time.Second)

	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	const n = 8
	ids := make([]string, 0, n)
	for i := range n {
		began := time.Now()
		r := s.post(t, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(jpeg))
		if r.code != http.StatusAccepted {
			t.Fatalf("upload %d: %d %s", i, r.code, r.body)
		}
		// Ingest answers as fast with a backlog as without: writing the
		// original and a message, no processing in the way.
		if took := time.Since(began); took > 3*time.Second {
			t.Errorf("upload %d took %s with the processor stuck", i, took)
		}
		ids = append(ids, r.image(t).GetId())
	}
	body := waitReadyz(t, s, http.StatusServiceUnavailable, 10*time.Second)
	if p := body.Checks["processor"]; !strings.Contains(p, "backlog of") || !strings.Contains(p, "(limit 3)") {
		t.Errorf("processor: %q, want its backlog named", p)
	}
	for _, name := range []string{"ingest", "status", "admin"} {
		if body.Checks[name] != "ok" {
			t.Errorf("%s: %q, want ok: only the processor is saturated", name, body.Checks[name])
		}
	}
	// Still 202 while /readyz says 503.
	if r := s.post(t, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(jpeg)); r.code != http.StatusAccepted {
		t.Fatalf("upload while not ready: %d %s", r.code, r.body)
	} else {
		ids = append(ids, r.image(t).GetId())
	}

	close(gate)
	waitReadyz(t, s, http.StatusOK, 60*time.Second)
	for _, id := range ids {
		if img := s.waitTerminal(t, id, 60*time.Second); img.GetState() != pb.ImageState_IMAGE_STATE_READY {
			t.Errorf("%s ended %s (%v)", id, img.GetState(), img.GetError())
		}
	}
}

// waitReadyz polls /readyz until it answers code, and returns its body.
func waitReadyz(t *testing.T, s *server, code int, within time.Duration) gateway.ReadyBody {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest(http.MethodGet, s.Base+"/readyz", nil)
		r := do(t, req) // no credential: probes send none
		var body gateway.ReadyBody
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("/readyz %d: %v\n%s", r.code, err, r.body)
		}
		if r.code == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %+v after %s, want %d", r.code, body, within, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
