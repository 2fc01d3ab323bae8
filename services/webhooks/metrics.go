package webhooks

import (
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of imagepipe_webhook_deliveries_total, one per attempt that
// settled or rescheduled a delivery (an attempt recorded on a delivery
// another worker had settled meanwhile counts nothing).
const (
	outcomeDelivered = "delivered" // a 2xx answer
	outcomeRetried   = "retried"   // failed; another attempt is scheduled
	outcomeFailed    = "failed"    // failed for good: permanent, or the round's attempts used up
)

// queueStatsTimeout bounds reading the events queue's counts at a scrape.
const queueStatsTimeout = 2 * time.Second

// metrics are the dispatcher's Prometheus metrics. The pending backlog is
// the events queue's imagepipe_queue_messages{queue="events"}: each PENDING
// delivery has one message there (in flight or hidden until its next
// attempt), beside image events not yet turned into deliveries.
type metrics struct {
	deliveries *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imagepipe_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome: delivered, retried (another attempt is scheduled), failed (given up).",
	}, []string{"outcome"})}
	for _, o := range []string{outcomeDelivered, outcomeRetried, outcomeFailed} {
		m.deliveries.WithLabelValues(o) // every outcome is exported from the start, at 0
	}
	return m
}

// register exports the metrics and the events queue's counts (the
// dispatcher is its consumer) to r; nil registers nothing.
func (m *metrics) register(r prometheus.Registerer, events queue.Queue) (*queue.Collector, error) {
	if r == nil {
		return nil, nil
	}
	qc := queue.NewCollector("events", events, queueStatsTimeout)
	for _, c := range []prometheus.Collector{m.deliveries, qc} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return qc, nil
}
