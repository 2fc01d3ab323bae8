// Package consumer runs a pool of workers on a queue.Queue: each receives
// one message at a time (long poll) and hands it to the service's handler,
// which decides what becomes of it and says so with Ack, Delay or Release,
// and keeps a long job hidden with Heartbeat. When the run's context ends,
// workers stop receiving; handlers in flight keep a context that is
// cancelled only after a grace period, and a message they leave alone comes
// back after its visibility timeout.
package consumer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// Config of a consumer.
type Config struct {
	// Workers is how many messages are handled at once.
	Workers int
	// PollWait is the long-poll wait of one receive.
	PollWait time.Duration
	// Visibility is how long a received message stays hidden from other
	// workers; Heartbeat extends it by as much every half of it.
	Visibility time.Duration
	// Grace is how long handlers in flight may run on after the run's
	// context ends before their own context is cancelled.
	Grace time.Duration
	// Log gets the consumer's failures (the service's logger, which names
	// its module); nil means slog.Default().
	Log *slog.Logger
}

// receiveRetry is how long a worker waits after a failed receive.
const receiveRetry = time.Second

// Consumer consumes one queue.
type Consumer struct {
	q   queue.Queue
	cfg Config
}

// New returns a consumer of q; Run starts its workers.
func New(q queue.Queue, cfg Config) *Consumer {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Consumer{q: q, cfg: cfg}
}

// Run runs cfg.Workers workers, each handing the messages it receives to
// handle one at a time, until ctx ends. Workers then stop receiving;
// handlers in flight get cfg.Grace to finish before their context is
// cancelled. Run returns when every worker has.
func (c *Consumer) Run(ctx context.Context, handle func(ctx context.Context, m queue.Message)) {
	inFlight, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		<-ctx.Done()
		select {
		case <-inFlight.Done():
		case <-time.After(c.cfg.Grace):
			cancel()
		}
	}()
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() { c.work(ctx, inFlight, handle) })
	}
	wg.Wait()
}

// work receives until ctx ends and handles each message with inFlight.
func (c *Consumer) work(ctx, inFlight context.Context, handle func(context.Context, queue.Message)) {
	for ctx.Err() == nil {
		msgs, err := c.q.Receive(ctx, queue.ReceiveOptions{MaxMessages: 1, WaitTime: c.cfg.PollWait, VisibilityTimeout: c.cfg.Visibility})
		if err != nil {
			if ctx.Err() == nil {
				c.cfg.Log.Error("queue receive failed; retrying in a second", "err", err)
				sleep(ctx, receiveRetry)
			}
			continue
		}
		for _, m := range msgs {
			handle(inFlight, m)
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Ack deletes m: it is done with.
func (c *Consumer) Ack(ctx context.Context, m queue.Message) {
	if err := c.q.Delete(ctx, m.ReceiptHandle); err != nil {
		c.cfg.Log.Warn("could not delete a handled message; it will be redelivered", "message", m.ID, "err", err)
	}
}

// Delay hides m for d, clamped to [0, queue.MaxVisibilityTimeout]: it is
// delivered again after d (a longer wait just comes round again).
func (c *Consumer) Delay(ctx context.Context, m queue.Message, d time.Duration) {
	if err := c.q.ChangeVisibility(ctx, m.ReceiptHandle, min(max(d, 0), queue.MaxVisibilityTimeout)); err != nil {
		c.cfg.Log.Warn("could not delay a message; it comes back after its visibility timeout", "message", m.ID, "err", err)
	}
}

// Release makes m due at once. A message whose receives are used up thus
// goes to the dead-letter queue on the next receive.
func (c *Consumer) Release(ctx context.Context, m queue.Message) { c.Delay(ctx, m, 0) }

// Heartbeat keeps m hidden from other workers, extending its visibility by
// cfg.Visibility every half of it, until the returned stop is called or ctx
// ends. stop waits for the heartbeat to end, so no extension can race the
// Ack, Delay or Release that follows.
func (c *Consumer) Heartbeat(ctx context.Context, m queue.Message) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(c.cfg.Visibility / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.q.ChangeVisibility(ctx, m.ReceiptHandle, c.cfg.Visibility); err != nil && ctx.Err() == nil {
					c.cfg.Log.Warn("visibility heartbeat failed", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Backoff is the delay after the n-th failed attempt (n from 1): base,
// doubling per attempt, at most limit.
func Backoff(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		if d > limit/2 {
			return limit // doubling would pass limit (or overflow)
		}
		d *= 2
	}
	return min(d, limit)
}
