package processor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/consumer"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are what a processor works with.
type Deps struct {
	// Presets validate specs and resolve their watermarks.
	Presets   *spec.Presets
	Originals blob.Store
	Variants  blob.Store
	Queue     queue.Queue
	// Events is the webhooks' events queue: every image that ends READY or
	// FAILED is announced there, and every one deleted (Service). Nil when
	// webhooks are off.
	Events  queue.Queue
	Records records.Store
	Log     *slog.Logger
	// Metrics, if set, gets the processor's metrics (metrics.go), the job
	// queue's counts and libvips' memory.
	Metrics prometheus.Registerer
}

// Processor pulls jobs and turns originals into variants.
type Processor struct {
	cfg Config
	Deps
	// consumer receives the jobs and acks, delays and releases them.
	consumer *consumer.Consumer
	metrics  *metrics
	// queueStats reports the job queue's counts; nil without Metrics.
	queueStats *queue.Collector
}

// New returns a processor; Run starts its workers.
func New(cfg Config, d Deps) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := consumer.New(d.Queue, consumer.Config{
		Workers:    cfg.Workers,
		PollWait:   cfg.PollWait,
		Visibility: cfg.Visibility,
		Grace:      cfg.ShutdownGrace,
		Log:        d.Log,
	})
	m := newMetrics(cfg.Workers)
	qs, err := m.register(d.Metrics, d.Queue)
	if err != nil {
		return nil, fmt.Errorf("processor: metrics: %w", err)
	}
	return &Processor{cfg: cfg, Deps: d, consumer: c, metrics: m, queueStats: qs}, nil
}

// Run runs cfg.Workers workers until ctx ends. Workers then stop
// receiving; jobs in flight get cfg.ShutdownGrace to finish before they are
// cancelled and left to the queue, which redelivers them after their
// visibility timeout.
func (p *Processor) Run(ctx context.Context) error {
	p.consumer.Run(ctx, p.Handle)
	if p.queueStats != nil {
		_ = p.queueStats.Close()
	}
	return nil
}

// maxBackoff caps the delay between attempts.
const maxBackoff = 15 * time.Minute

// backoff is the delay after the receiveCount-th attempt failed:
// cfg.RetryBackoff doubling per attempt, at most maxBackoff.
func (p *Processor) backoff(receiveCount int) time.Duration {
	return consumer.Backoff(p.cfg.RetryBackoff, maxBackoff, receiveCount)
}
