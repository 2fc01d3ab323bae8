package sqlitequeue

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// Receive implements queue.Queue.
func (q *Queue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, error) {
	if err := q.checkOpen("receive"); err != nil {
		return nil, err
	}
	if err := queue.ValidateReceive(opts); err != nil {
		return nil, fmt.Errorf("sqlitequeue: receive: %w", err)
	}
	n := max(opts.MaxMessages, 1)
	visibility := cmp.Or(opts.VisibilityTimeout, q.opts.Visibility)
	deadline := time.Now().Add(opts.WaitTime)
	var timer *time.Timer
	for {
		wake := q.wake.wait() // before looking, so no Send is missed
		msgs, err := q.claim(ctx, n, visibility)
		if err != nil {
			if cerr := q.checkOpen("receive"); cerr != nil {
				return nil, cerr // Close raced the claim: report it as closed
			}
			return nil, fmt.Errorf("sqlitequeue: receive: %w", ctxErr(ctx, err))
		}
		if len(msgs) > 0 {
			return msgs, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return []queue.Message{}, nil
		}
		if timer == nil {
			timer = time.NewTimer(min(left, q.opts.PollInterval))
			defer timer.Stop()
		} else {
			timer.Reset(min(left, q.opts.PollInterval))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sqlitequeue: receive: %w", ctx.Err())
		case <-q.closed:
			return nil, fmt.Errorf("sqlitequeue: receive: %w", queue.ErrClosed)
		case <-wake:
		case <-timer.C:
		}
	}
}

// claim moves due messages that reached MaxReceive to the DLQ, then claims
// up to n due messages for visibility.
func (q *Queue) claim(ctx context.Context, n int, visibility time.Duration) ([]queue.Message, error) {
	now := time.Now().UnixMilli()
	// A read first: idle pollers then never take the write lock.
	var due bool
	err := q.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM queue_messages WHERE queue = ? AND visible_at <= ?)`,
		q.opts.Name, now).Scan(&due)
	if err != nil || !due {
		return nil, err
	}
	if q.opts.MaxReceive > 0 {
		res, err := q.db.ExecContext(ctx,
			`UPDATE queue_messages SET queue = ?, receive_count = 0, receipt = NULL, visible_at = ?
			WHERE queue = ? AND visible_at <= ? AND receive_count >= ?`,
			q.opts.DLQ, now, q.opts.Name, now, q.opts.MaxReceive)
		if err != nil {
			return nil, fmt.Errorf("move to dead-letter queue: %w", err)
		}
		if moved, _ := res.RowsAffected(); moved > 0 {
			q.dlq.notify()
		}
	}
	rows, err := q.db.QueryContext(ctx,
		`UPDATE queue_messages
		SET receive_count = receive_count + 1, receipt = lower(hex(randomblob(16))), visible_at = ?
		WHERE seq IN (
			SELECT seq FROM queue_messages
			WHERE queue = ? AND visible_at <= ? AND (? = 0 OR receive_count < ?)
			ORDER BY visible_at, seq
			LIMIT ?)
		RETURNING id, body, attributes, receipt, receive_count, sent_at`,
		now+visibility.Milliseconds(), q.opts.Name, now, q.opts.MaxReceive, q.opts.MaxReceive, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []queue.Message
	for rows.Next() {
		var (
			m      queue.Message
			attrs  sql.NullString
			token  string
			sentAt int64
		)
		if err := rows.Scan(&m.ID, &m.Body, &attrs, &token, &m.ReceiveCount, &sentAt); err != nil {
			return nil, err
		}
		if attrs.Valid {
			if err := json.Unmarshal([]byte(attrs.String), &m.Attributes); err != nil {
				return nil, fmt.Errorf("decode attributes of %s: %w", m.ID, err)
			}
		}
		m.ReceiptHandle = receiptHandle(m.ID, token)
		m.SentAt = time.UnixMilli(sentAt)
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}
