package sqlitequeue

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// Delete implements queue.Queue. A stale handle (the message has since been
// received again) leaves the message alone and yields ErrInvalidReceipt; a
// message that no longer exists (deleted, or moved to the DLQ) is not an
// error.
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	if err := q.checkOpen("delete"); err != nil {
		return err
	}
	id, token, err := parseReceipt(receiptHandle)
	if err != nil {
		return fmt.Errorf("sqlitequeue: delete: %w", err)
	}
	res, err := q.db.ExecContext(ctx,
		`DELETE FROM queue_messages WHERE queue = ? AND id = ? AND receipt = ?`, q.opts.Name, id, token)
	if err != nil {
		return fmt.Errorf("sqlitequeue: delete: %w", ctxErr(ctx, err))
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var exists bool
	if err := q.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM queue_messages WHERE queue = ? AND id = ?)`, q.opts.Name, id).Scan(&exists); err != nil {
		return fmt.Errorf("sqlitequeue: delete: %w", ctxErr(ctx, err))
	}
	if exists {
		return fmt.Errorf("sqlitequeue: delete %s: %w: received again since", id, queue.ErrInvalidReceipt)
	}
	return nil
}

// ChangeVisibility implements queue.Queue. It fails with ErrInvalidReceipt
// unless receiptHandle is the message's latest.
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error {
	if err := q.checkOpen("change visibility"); err != nil {
		return err
	}
	if err := queue.ValidateVisibility(timeout); err != nil {
		return fmt.Errorf("sqlitequeue: change visibility: %w", err)
	}
	id, token, err := parseReceipt(receiptHandle)
	if err != nil {
		return fmt.Errorf("sqlitequeue: change visibility: %w", err)
	}
	res, err := q.db.ExecContext(ctx,
		`UPDATE queue_messages SET visible_at = ? WHERE queue = ? AND id = ? AND receipt = ?`,
		time.Now().Add(timeout).UnixMilli(), q.opts.Name, id, token)
	if err != nil {
		return fmt.Errorf("sqlitequeue: change visibility: %w", ctxErr(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlitequeue: change visibility: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitequeue: change visibility %s: %w: message gone or received again since", id, queue.ErrInvalidReceipt)
	}
	if timeout == 0 {
		q.wake.notify()
	}
	return nil
}

// Stats implements queue.Queue. Due messages waiting to be moved to the
// DLQ count as visible.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	if err := q.checkOpen("stats"); err != nil {
		return queue.Stats{}, err
	}
	var s queue.Stats
	now := time.Now().UnixMilli()
	err := q.db.QueryRowContext(ctx,
		`SELECT
			COALESCE(SUM(visible_at <= ?), 0),
			COALESCE(SUM(visible_at > ? AND receive_count > 0), 0),
			COALESCE(SUM(visible_at > ? AND receive_count = 0), 0)
		FROM queue_messages WHERE queue = ?`,
		now, now, now, q.opts.Name).Scan(&s.Visible, &s.InFlight, &s.Delayed)
	if err != nil {
		return queue.Stats{}, fmt.Errorf("sqlitequeue: stats: %w", ctxErr(ctx, err))
	}
	return s, nil
}

var _ queue.OldestAger = (*Queue)(nil)

// OldestAge implements queue.OldestAger: the age of the message sent
// first among those still in the queue, 0 when it is empty.
func (q *Queue) OldestAge(ctx context.Context) (time.Duration, error) {
	if err := q.checkOpen("oldest age"); err != nil {
		return 0, err
	}
	var oldest sql.NullInt64
	err := q.db.QueryRowContext(ctx, `SELECT MIN(sent_at) FROM queue_messages WHERE queue = ?`, q.opts.Name).Scan(&oldest)
	if err != nil {
		return 0, fmt.Errorf("sqlitequeue: oldest age: %w", ctxErr(ctx, err))
	}
	if !oldest.Valid {
		return 0, nil
	}
	return max(time.Since(time.UnixMilli(oldest.Int64)), 0), nil
}
