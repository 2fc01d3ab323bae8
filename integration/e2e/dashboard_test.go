package e2e_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	observability "github.com/imagepipe/imagepipe/deploy/observability"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/internal/testkit/promtest"
)

// Every metric the Grafana dashboard and the alerting rules name
// (deploy/observability.Metrics, which their own test checks every
// expression against) is one a running server exposes: the all-in-one
// server, after a READY image, a FAILED one and a webhook delivery, is
// scraped and each family must be there. ("up" is Prometheus' own.)
func TestDashboardMetricsExist(t *testing.T) {
	rcv := newReceiver(t, secretNew, 0)
	s := start(t, webhookConfig(t.TempDir(), rcv.URL))
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	for _, body := range [][]byte{jpeg, jpeg[:len(jpeg)/3]} {
		r := s.post(t, "/v1/images?wait=0s", "image/jpeg", bytes.NewReader(body))
		if r.code != http.StatusAccepted && r.code != http.StatusOK {
			t.Fatalf("upload: %d %s", r.code, r.body)
		}
		s.waitTerminal(t, r.image(t).GetId(), 30*time.Second)
	}
	if got := rcv.accepted(t, 1, 30*time.Second); len(got) == 0 {
		t.Fatal("no webhook delivered")
	}
	m := promtest.Scrape(t, s.Base+"/metrics")
	for _, want := range observability.Metrics {
		if want.Name == "up" {
			continue
		}
		if _, ok := m[want.Name]; !ok {
			t.Errorf("the dashboard or the rules use %s (%s), which the server does not expose", want.Name, want.Source)
		}
	}
	for state, code := range map[string]string{"READY": "", "FAILED": "corrupt"} {
		if v, _ := m.Value("imagepipe_images_total", map[string]string{"state": state, "code": code}); v != 1 {
			t.Errorf("imagepipe_images_total{state=%q,code=%q} = %v, want 1", state, code, v)
		}
	}
}
