package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a queue's Stats, and its dead-letter queue's, as
// Prometheus gauges read at scrape time:
//
//	imagepipe_queue_messages{queue,kind}       kind: visible, in_flight, delayed
//	imagepipe_queue_oldest_age_seconds{queue}  only for an OldestAger
//	imagepipe_queue_up{queue}                  0 when Stats failed or timed out
//
// The dead-letter queue (DeadLetterer) is the queue named name+"_dlq". It
// is opened at the first scrape and kept until Close. A queue that cannot
// be read within the timeout has no series but queue_up 0 that scrape:
// the scrape itself never waits longer.
type Collector struct {
	name    string
	q       Queue
	timeout time.Duration

	mu     sync.Mutex
	dlq    Queue
	noDLQ  bool // q has none (or is not a DeadLetterer)
	closed bool
}

var (
	messagesDesc = prometheus.NewDesc("imagepipe_queue_messages",
		"Messages in the queue, approximately, by kind: visible (waiting), in_flight (received, not yet deleted), delayed (sent with a delay).",
		[]string{"queue", "kind"}, nil)
	oldestDesc = prometheus.NewDesc("imagepipe_queue_oldest_age_seconds",
		"Age of the oldest message in the queue; 0 when it is empty. Absent for SQS, where it is the CloudWatch metric ApproximateAgeOfOldestMessage.",
		[]string{"queue"}, nil)
	upDesc = prometheus.NewDesc("imagepipe_queue_up",
		"1 when the queue's counts were read at this scrape, 0 when reading them failed or timed out.",
		[]string{"queue"}, nil)
)

// NewCollector returns a collector of q's stats under the label
// queue=name (a fixed name such as "jobs" or "events", never a URL), each
// queue's read bounded by timeout.
func NewCollector(name string, q Queue, timeout time.Duration) *Collector {
	_, isDL := q.(DeadLetterer)
	return &Collector{name: name, q: q, timeout: timeout, noDLQ: !isDL}
}

// Describe implements prometheus.Collector. It describes nothing: the
// collector is "unchecked", so that one registry takes several (the jobs
// and events queues of one process), which differ only in their label
// values; the registry still refuses duplicate series when it gathers.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	collectQueue(ctx, ch, c.name, c.q)
	if dlq := c.deadLetters(ctx); dlq != nil {
		collectQueue(ctx, ch, c.name+"_dlq", dlq)
	}
}

// Close closes the dead-letter queue the collector opened.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.dlq == nil {
		return nil
	}
	err := c.dlq.Close()
	c.dlq = nil
	return err
}

// deadLetters opens the dead-letter queue once; nil when there is none or
// opening it failed (tried again at the next scrape).
func (c *Collector) deadLetters(ctx context.Context) Queue {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dlq != nil || c.noDLQ || c.closed {
		return c.dlq
	}
	dlq, err := c.q.(DeadLetterer).DeadLetterQueue(ctx)
	switch {
	case errors.Is(err, ErrNoDeadLetterQueue):
		c.noDLQ = true
	case err == nil:
		c.dlq = dlq
	}
	return c.dlq
}

// collectQueue sends q's gauges under the label queue=name.
func collectQueue(ctx context.Context, ch chan<- prometheus.Metric, name string, q Queue) {
	st, err := q.Stats(ctx)
	var age time.Duration
	ager, hasAge := q.(OldestAger)
	if err == nil && hasAge {
		age, err = ager.OldestAge(ctx)
	}
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0, name)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1, name)
	for kind, n := range map[string]int64{"visible": st.Visible, "in_flight": st.InFlight, "delayed": st.Delayed} {
		ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.GaugeValue, float64(n), name, kind)
	}
	if hasAge {
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age.Seconds(), name)
	}
}
