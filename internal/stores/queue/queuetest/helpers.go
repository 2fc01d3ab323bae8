package queuetest

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// slack absorbs scheduling delays in lower bounds on elapsed time.
const slack = 100 * time.Millisecond

func send(t *testing.T, q queue.Queue, body string, opts queue.SendOptions) string {
	t.Helper()
	id, err := q.Send(t.Context(), []byte(body), opts)
	if err != nil {
		t.Fatalf("Send(%q): %v", body, err)
	}
	if id == "" {
		t.Fatalf("Send(%q) returned an empty ID", body)
	}
	return id
}

func receive(t *testing.T, q queue.Queue, opts queue.ReceiveOptions) []queue.Message {
	t.Helper()
	msgs, err := q.Receive(t.Context(), opts)
	if err != nil {
		t.Fatalf("Receive(%+v): %v", opts, err)
	}
	if msgs == nil {
		t.Fatalf("Receive(%+v) returned a nil slice, want an empty one", opts)
	}
	return msgs
}

// receiveOne waits up to wait for exactly one message.
func receiveOne(t *testing.T, q queue.Queue, wait time.Duration) queue.Message {
	t.Helper()
	msgs := receive(t, q, queue.ReceiveOptions{MaxMessages: 1, WaitTime: wait})
	if len(msgs) != 1 {
		t.Fatalf("Receive(wait %v) returned %d messages, want 1", wait, len(msgs))
	}
	return msgs[0]
}

// receiveNone waits the whole of wait and fails on any message.
func receiveNone(t *testing.T, q queue.Queue, wait time.Duration) {
	t.Helper()
	start := time.Now()
	msgs := receive(t, q, queue.ReceiveOptions{MaxMessages: queue.MaxBatch, WaitTime: wait})
	if len(msgs) != 0 {
		t.Fatalf("Receive(wait %v) returned %d messages (first %q, ReceiveCount %d), want none",
			wait, len(msgs), msgs[0].Body, msgs[0].ReceiveCount)
	}
	if elapsed := time.Since(start); elapsed < wait-slack {
		t.Fatalf("empty Receive(wait %v) returned after %v, want the full wait", wait, elapsed)
	}
}

// wantMessage checks a received message against what was sent.
func wantMessage(t *testing.T, m queue.Message, id, body string, attrs map[string]string, receiveCount int) {
	t.Helper()
	if m.ID != id || string(m.Body) != body || m.ReceiveCount != receiveCount || m.ReceiptHandle == "" {
		t.Errorf("message = {ID %q Body %q ReceiveCount %d ReceiptHandle %q}, want {ID %q Body %q ReceiveCount %d} and a handle",
			m.ID, m.Body, m.ReceiveCount, m.ReceiptHandle, id, body, receiveCount)
	}
	if !maps.Equal(m.Attributes, attrs) {
		t.Errorf("message %s attributes = %v, want %v", m.ID, m.Attributes, attrs)
	}
}

func deleteMsg(t *testing.T, q queue.Queue, m queue.Message) {
	t.Helper()
	if err := q.Delete(t.Context(), m.ReceiptHandle); err != nil {
		t.Fatalf("Delete(%s): %v", m.ID, err)
	}
}

// nilOrInvalidReceipt is the accepted outcome of operations with a handle
// that is stale, or whose message is gone.
func nilOrInvalidReceipt(err error) bool {
	return err == nil || errors.Is(err, queue.ErrInvalidReceipt)
}

// eventuallyStats polls Stats until it equals want (SQS counts lag).
func eventuallyStats(t *testing.T, q queue.Queue, want queue.Stats) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := q.Stats(t.Context())
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, want %+v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
