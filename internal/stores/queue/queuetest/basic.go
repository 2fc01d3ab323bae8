package queuetest

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

func testSendReceiveDelete(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: time.Second})
	attrs := map[string]string{"kind": "resize", "trace-id": "4bf92f35", "Content.Type": "image/jpeg"}
	before := time.Now()
	id := send(t, q, "job: resize cat.jpg", queue.SendOptions{Attributes: attrs})
	plain := send(t, q, "no attributes", queue.SendOptions{})
	after := time.Now()
	if id == plain {
		t.Fatalf("two sends returned the same ID %q", id)
	}
	got := map[string]queue.Message{}
	for len(got) < 2 {
		for _, m := range receive(t, q, queue.ReceiveOptions{MaxMessages: 2, WaitTime: 2 * time.Second}) {
			got[m.ID] = m
		}
		if time.Since(after) > 5*time.Second {
			t.Fatalf("received %d of 2 messages", len(got))
		}
	}
	wantMessage(t, got[id], id, "job: resize cat.jpg", attrs, 1)
	wantMessage(t, got[plain], plain, "no attributes", nil, 1)
	for _, m := range got {
		if m.SentAt.Before(before.Add(-time.Second)) || m.SentAt.After(after.Add(time.Second)) {
			t.Errorf("SentAt = %v, want between %v and %v", m.SentAt, before, after)
		}
		deleteMsg(t, q, m)
		// Deleting again is harmless.
		if err := q.Delete(t.Context(), m.ReceiptHandle); !nilOrInvalidReceipt(err) {
			t.Errorf("second Delete = %v, want nil or ErrInvalidReceipt", err)
		}
	}
	// Gone for good: not redelivered after the visibility timeout.
	receiveNone(t, q, 2*time.Second)
	eventuallyStats(t, q, queue.Stats{})
}

func testBinaryBody(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: 5 * time.Second})
	bodies := [][]byte{{0}, {0xff, 0xfe, 0, '\n', 0x80}, make([]byte, queue.MaxBodySize)}
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(bodies[2])
	for _, body := range bodies {
		id, err := q.Send(t.Context(), body, queue.SendOptions{})
		if err != nil {
			t.Fatalf("Send(%d bytes): %v", len(body), err)
		}
		m := receiveOne(t, q, 2*time.Second)
		if m.ID != id || !bytes.Equal(m.Body, body) {
			t.Errorf("received %s with %d bytes, want %s with the %d bytes sent", m.ID, len(m.Body), id, len(body))
		}
		deleteMsg(t, q, m)
	}
}

func testVisibilityTimeout(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: time.Second})
	id := send(t, q, "slow job", queue.SendOptions{})
	first := receiveOne(t, q, 2*time.Second)
	received := time.Now()
	wantMessage(t, first, id, "slow job", nil, 1)
	// Invisible while in flight.
	if msgs := receive(t, q, queue.ReceiveOptions{}); len(msgs) != 0 {
		t.Fatalf("in-flight message received again at once: %+v", msgs)
	}
	second := receiveOne(t, q, 3*time.Second)
	if elapsed := time.Since(received); elapsed < time.Second-slack {
		t.Errorf("redelivered after %v, before the 1s visibility timeout", elapsed)
	}
	wantMessage(t, second, id, "slow job", nil, 2)
	if second.ReceiptHandle == first.ReceiptHandle {
		t.Errorf("redelivery reused receipt handle %q", first.ReceiptHandle)
	}
	// The current handle deletes it for good.
	deleteMsg(t, q, second)
	receiveNone(t, q, 2*time.Second)
}

func testReceiveVisibilityOverride(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: 30 * time.Second})
	id := send(t, q, "override", queue.SendOptions{})
	msgs := receive(t, q, queue.ReceiveOptions{WaitTime: 2 * time.Second, VisibilityTimeout: time.Second})
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	received := time.Now()
	again := receiveOne(t, q, 4*time.Second) // the queue default would hide it for 30s
	if elapsed := time.Since(received); elapsed < time.Second-slack {
		t.Errorf("redelivered after %v, before the 1s visibility timeout", elapsed)
	}
	wantMessage(t, again, id, "override", nil, 2)
}

func testStaleReceiptHandle(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: time.Second})
	id := send(t, q, "contested", queue.SendOptions{})
	stale := receiveOne(t, q, 2*time.Second)
	current := receiveOne(t, q, 3*time.Second) // after the visibility timeout
	wantMessage(t, current, id, "contested", nil, 2)

	if err := q.Delete(t.Context(), stale.ReceiptHandle); !nilOrInvalidReceipt(err) {
		t.Errorf("Delete(stale handle) = %v, want nil or ErrInvalidReceipt", err)
	}
	_ = q.ChangeVisibility(t.Context(), stale.ReceiptHandle, 0) // may fail; must not expose the message
	if msgs := receive(t, q, queue.ReceiveOptions{}); len(msgs) != 0 {
		t.Fatalf("ChangeVisibility(stale handle, 0) made the in-flight message visible")
	}
	// The message survived: its current handle still works.
	if err := q.ChangeVisibility(t.Context(), current.ReceiptHandle, 0); err != nil {
		t.Fatalf("ChangeVisibility(current handle) after stale Delete: %v (message lost?)", err)
	}
	third := receiveOne(t, q, 2*time.Second)
	wantMessage(t, third, id, "contested", nil, 3)
	deleteMsg(t, q, third)
}

func testChangeVisibility(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: time.Second})
	id := send(t, q, "retry me", queue.SendOptions{})
	first := receiveOne(t, q, 2*time.Second)

	// 0 makes it visible at once, well before the 1s timeout.
	if err := q.ChangeVisibility(t.Context(), first.ReceiptHandle, 0); err != nil {
		t.Fatalf("ChangeVisibility(0): %v", err)
	}
	start := time.Now()
	second := receiveOne(t, q, 2*time.Second)
	if elapsed := time.Since(start); elapsed > 700*time.Millisecond {
		t.Errorf("visible only after %v following ChangeVisibility(0)", elapsed)
	}
	wantMessage(t, second, id, "retry me", nil, 2)

	// A longer timeout hides it past the queue default.
	if err := q.ChangeVisibility(t.Context(), second.ReceiptHandle, 3*time.Second); err != nil {
		t.Fatalf("ChangeVisibility(3s): %v", err)
	}
	changed := time.Now()
	receiveNone(t, q, 2*time.Second)
	third := receiveOne(t, q, 3*time.Second)
	if elapsed := time.Since(changed); elapsed < 3*time.Second-slack {
		t.Errorf("visible after %v, before the 3s set by ChangeVisibility", elapsed)
	}
	wantMessage(t, third, id, "retry me", nil, 3)
	deleteMsg(t, q, third)
}

func testDelayedSend(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: time.Second})
	sent := time.Now()
	id := send(t, q, "later", queue.SendOptions{Delay: 2 * time.Second, Attributes: map[string]string{"a": "b"}})
	receiveNone(t, q, time.Second)
	m := receiveOne(t, q, 3*time.Second)
	if elapsed := time.Since(sent); elapsed < 2*time.Second-slack {
		t.Errorf("delayed message received after %v, before its 2s delay", elapsed)
	}
	wantMessage(t, m, id, "later", map[string]string{"a": "b"}, 1)
	deleteMsg(t, q, m)
}
