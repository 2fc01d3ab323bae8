package sqlitequeue

import (
	"context"
	"fmt"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

var _ queue.DeadLetterer = (*Queue)(nil)

// DeadLetterQueue implements queue.DeadLetterer: it opens the queue named
// Options.DLQ in the same file, with the same visibility and poll interval
// and without redrive of its own. It returns queue.ErrNoDeadLetterQueue
// when redrive is off (MaxReceive 0).
func (q *Queue) DeadLetterQueue(ctx context.Context) (queue.Queue, error) {
	if err := q.checkOpen("open dead-letter queue"); err != nil {
		return nil, err
	}
	if q.opts.MaxReceive == 0 {
		return nil, fmt.Errorf("sqlitequeue: queue %s: %w", q.opts.Name, queue.ErrNoDeadLetterQueue)
	}
	// The file the handle opened, as New resolved it (the notifier key
	// must match, so that moves to the DLQ wake its receivers).
	var (
		seq        int
		name, path string
	)
	if err := q.db.QueryRowContext(ctx, `PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
		return nil, fmt.Errorf("sqlitequeue: open dead-letter queue of %s: %w", q.opts.Name, ctxErr(ctx, err))
	}
	return New(path, Options{
		Name:         q.opts.DLQ,
		Visibility:   q.opts.Visibility,
		PollInterval: q.opts.PollInterval,
	})
}
