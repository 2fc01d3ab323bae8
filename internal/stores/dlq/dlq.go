// Package dlq operates on a dead-letter queue the way the SQS console does,
// through nothing but the queue.Queue interface: it receives the messages
// (holding them invisible for a short while, so that each is seen once),
// acts on those selected, and makes the others visible again.
//
// Listing therefore does not consume: every listed message is visible again
// when List returns. A message the process could not release (it crashed,
// or the queue failed) becomes visible by itself when its hold expires.
//
// Moving a message is a Send to the source queue followed by a Delete from
// the dead-letter queue: at least once. A crash between the two leaves the
// job on both queues; the processor treats the second delivery of a job
// whose image is finished as a duplicate.
package dlq

import (
	"context"
	"fmt"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

const (
	// Hold is the visibility timeout of the receives: how long a message
	// seen by an operation stays invisible if the operation cannot release
	// it.
	Hold = 30 * time.Second
	// Wait is how long each receive waits for a message. An operation ends
	// at the first receive that yields no message it has not seen, so it
	// takes at least this long. A long poll, because a short poll of SQS
	// may find nothing when a few messages are there.
	Wait = time.Second
	// releaseTimeout bounds releasing the held messages at the end of an
	// operation, which runs even when the operation's context has ended.
	releaseTimeout = 10 * time.Second
)

// scan receives every message of a queue once, keeping the ones it holds.
type scan struct {
	q    queue.Queue
	seen map[string]bool
	held map[string]queue.Message // by ID, with the latest receipt handle
}

func newScan(q queue.Queue) *scan {
	return &scan{q: q, seen: map[string]bool{}, held: map[string]queue.Message{}}
}

// next receives up to n messages and returns those not seen before, which
// it now holds. It returns none when the queue has no message it has not
// seen.
func (s *scan) next(ctx context.Context, n int) ([]queue.Message, error) {
	msgs, err := s.q.Receive(ctx, queue.ReceiveOptions{MaxMessages: n, WaitTime: Wait, VisibilityTimeout: Hold})
	if err != nil {
		return nil, fmt.Errorf("dlq: receive: %w", err)
	}
	var fresh []queue.Message
	for _, m := range msgs {
		if _, ok := s.held[m.ID]; ok || !s.seen[m.ID] {
			s.held[m.ID] = m // a hold that expired: this handle is the current one
		}
		if !s.seen[m.ID] {
			s.seen[m.ID] = true
			fresh = append(fresh, m)
		}
	}
	return fresh, nil
}

// release makes every held message visible again. Failures are left to the
// hold's expiry.
func (s *scan) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	for id, m := range s.held {
		_ = s.q.ChangeVisibility(ctx, m.ReceiptHandle, 0)
		delete(s.held, id)
	}
}

// List returns up to limit messages of dlq (at least one; fewer if it
// holds fewer), in the order the queue hands them out, and leaves them all
// in the queue, visible. Each listing counts as a receive of every listed
// message.
func List(ctx context.Context, dlq queue.Queue, limit int) ([]queue.Message, error) {
	limit = max(limit, 1)
	s := newScan(dlq)
	defer s.release(ctx)
	var out []queue.Message
	for len(out) < limit {
		fresh, err := s.next(ctx, min(queue.MaxBatch, limit-len(out)))
		if err != nil {
			return nil, err
		}
		if len(fresh) == 0 {
			break
		}
		out = append(out, fresh...)
	}
	return out, nil
}

// Func handles one selected message of Each. It returns true for Each to
// delete the message from the dead-letter queue, false to leave it there.
type Func func(ctx context.Context, m queue.Message) (remove bool, err error)

// Each calls fn for every message of dlq whose ID is in ids, or for every
// message if all is set, and deletes those fn asks it to. It returns the IDs
// of the deleted messages, in the order handled, and the requested IDs it
// did not find. Messages not selected, and those fn keeps, stay in the
// queue, visible. An error from fn or the queue ends Each with the messages
// deleted so far; notFound is then nil.
func Each(ctx context.Context, dlq queue.Queue, ids []string, all bool, fn Func) (deleted, notFound []string, err error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	remaining := len(want)
	s := newScan(dlq)
	defer s.release(ctx)
	for all || remaining > 0 {
		fresh, err := s.next(ctx, queue.MaxBatch)
		if err != nil {
			return deleted, nil, err
		}
		if len(fresh) == 0 {
			break
		}
		for _, m := range fresh {
			if !all && !want[m.ID] {
				continue
			}
			if want[m.ID] {
				delete(want, m.ID)
				remaining--
			}
			remove, err := fn(ctx, m)
			if err != nil {
				return deleted, nil, err
			}
			if !remove {
				continue
			}
			if err := dlq.Delete(ctx, s.held[m.ID].ReceiptHandle); err != nil {
				return deleted, nil, fmt.Errorf("dlq: delete %s: %w", m.ID, err)
			}
			delete(s.held, m.ID)
			deleted = append(deleted, m.ID)
		}
	}
	for _, id := range ids {
		if want[id] {
			delete(want, id)
			notFound = append(notFound, id)
		}
	}
	return deleted, notFound, nil
}

// Send puts m's body and attributes on q, as a new message.
func Send(ctx context.Context, q queue.Queue, m queue.Message) error {
	if _, err := q.Send(ctx, m.Body, queue.SendOptions{Attributes: m.Attributes}); err != nil {
		return fmt.Errorf("dlq: send %s back: %w", m.ID, err)
	}
	return nil
}

// Move moves the selected messages (ids, or all) from dlq back to src: a
// new message with the same body and attributes on src, then a delete from
// dlq. It returns the moved IDs and the requested IDs not found.
func Move(ctx context.Context, src, dlq queue.Queue, ids []string, all bool) (moved, notFound []string, err error) {
	return Each(ctx, dlq, ids, all, func(ctx context.Context, m queue.Message) (bool, error) {
		if err := Send(ctx, src, m); err != nil {
			return false, err
		}
		return true, nil
	})
}

// Purge deletes the selected messages (ids, or all) from dlq. It returns
// the deleted IDs and the requested IDs not found.
func Purge(ctx context.Context, dlq queue.Queue, ids []string, all bool) (deleted, notFound []string, err error) {
	return Each(ctx, dlq, ids, all, func(context.Context, queue.Message) (bool, error) { return true, nil })
}
