package sqlitequeue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// Send implements queue.Queue.
func (q *Queue) Send(ctx context.Context, body []byte, opts queue.SendOptions) (string, error) {
	if err := q.checkOpen("send"); err != nil {
		return "", err
	}
	if err := queue.ValidateSend(body, opts); err != nil {
		return "", fmt.Errorf("sqlitequeue: send: %w", err)
	}
	var attrs any // NULL without attributes
	if len(opts.Attributes) > 0 {
		b, err := json.Marshal(opts.Attributes)
		if err != nil {
			return "", fmt.Errorf("sqlitequeue: send: %w", err)
		}
		attrs = string(b)
	}
	id := newID()
	now := time.Now()
	_, err := q.db.ExecContext(ctx,
		`INSERT INTO queue_messages (queue, id, body, attributes, sent_at, visible_at) VALUES (?, ?, ?, ?, ?, ?)`,
		q.opts.Name, id, body, attrs, now.UnixMilli(), now.Add(opts.Delay).UnixMilli())
	if err != nil {
		return "", fmt.Errorf("sqlitequeue: send: %w", ctxErr(ctx, err))
	}
	if opts.Delay == 0 {
		q.wake.notify()
	}
	return id, nil
}

// ctxErr prefers the context's error to the driver's report of it.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}
