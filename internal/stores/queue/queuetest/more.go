package queuetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

func testLongPoll(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: 10 * time.Second})

	// A message sent while a receive waits ends the wait early.
	sendErr := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := q.Send(context.Background(), []byte("wake up"), queue.SendOptions{})
		sendErr <- err
	}()
	start := time.Now()
	m := receiveOne(t, q, 10*time.Second)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("long poll returned %v after start, long after the send at 300ms", elapsed)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if string(m.Body) != "wake up" {
		t.Errorf("received %q", m.Body)
	}

	// With nothing to receive it waits the whole WaitTime, without error.
	start = time.Now()
	receiveNone(t, q, time.Second)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("empty long poll of 1s took %v", elapsed)
	}

	// Cancelling the context ends the wait with its error.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	msgs, err := q.Receive(ctx, queue.ReceiveOptions{WaitTime: 10 * time.Second})
	if !errors.Is(err, context.DeadlineExceeded) || len(msgs) != 0 {
		t.Errorf("Receive with expiring context = %d messages, %v; want context.DeadlineExceeded", len(msgs), err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Receive ignored its context for %v", elapsed)
	}
}

func testBatch(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: 10 * time.Second})
	sent := map[string]bool{}
	for i := range 7 {
		sent[send(t, q, fmt.Sprint("batch ", i), queue.SendOptions{})] = true
	}
	got := map[string]bool{}
	biggest := 0
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(sent) && time.Now().Before(deadline) {
		msgs := receive(t, q, queue.ReceiveOptions{MaxMessages: 5, WaitTime: time.Second})
		if len(msgs) > 5 {
			t.Fatalf("MaxMessages 5 returned %d messages", len(msgs))
		}
		biggest = max(biggest, len(msgs))
		for _, m := range msgs {
			if got[m.ID] || !sent[m.ID] {
				t.Fatalf("message %s received twice or never sent", m.ID)
			}
			got[m.ID] = true
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("received %d of %d messages", len(got), len(sent))
	}
	if biggest < 2 {
		t.Errorf("no batch held more than %d message", biggest)
	}

	// MaxMessages 0 means 1.
	send(t, q, "one", queue.SendOptions{})
	send(t, q, "two", queue.SendOptions{})
	time.Sleep(200 * time.Millisecond) // let both become receivable
	if msgs := receive(t, q, queue.ReceiveOptions{WaitTime: time.Second}); len(msgs) != 1 {
		t.Errorf("MaxMessages 0 returned %d messages, want 1", len(msgs))
	}
}

func testDeadLetterQueue(t *testing.T, newQueue NewQueue) {
	q, dlq := newQueue(t, Config{Visibility: 2 * time.Second, MaxReceive: 2})
	if dlq == nil {
		t.Fatal("newQueue returned no dead-letter queue for MaxReceive 2")
	}
	attrs := map[string]string{"kind": "poison"}
	id := send(t, q, "poison pill", queue.SendOptions{Attributes: attrs})
	var last queue.Message
	for i := 1; i <= 2; i++ {
		last = receiveOne(t, q, 2*time.Second)
		wantMessage(t, last, id, "poison pill", attrs, i)
		// Fail fast: ask for redelivery at once.
		if err := q.ChangeVisibility(t.Context(), last.ReceiptHandle, 0); err != nil {
			t.Fatalf("ChangeVisibility: %v", err)
		}
	}
	// Received MaxReceive times and visible again: moved, not delivered.
	receiveNone(t, q, time.Second)
	moved := receiveOne(t, dlq, 3*time.Second)
	if moved.ID != id || string(moved.Body) != "poison pill" || len(moved.Attributes) != 1 || moved.Attributes["kind"] != "poison" {
		t.Errorf("dead letter = {ID %q Body %q Attributes %v}, want {ID %q Body %q Attributes %v}",
			moved.ID, moved.Body, moved.Attributes, id, "poison pill", attrs)
	}
	if err := q.Delete(t.Context(), last.ReceiptHandle); !nilOrInvalidReceipt(err) {
		t.Errorf("Delete on the main queue after the move = %v, want nil or ErrInvalidReceipt", err)
	}
	deleteMsg(t, dlq, moved)
	receiveNone(t, q, time.Second)
	eventuallyStats(t, q, queue.Stats{})
	eventuallyStats(t, dlq, queue.Stats{})
}

func testStats(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: 10 * time.Second})
	eventuallyStats(t, q, queue.Stats{})
	for i := range 3 {
		send(t, q, fmt.Sprint("now ", i), queue.SendOptions{})
	}
	send(t, q, "later", queue.SendOptions{Delay: time.Minute})
	receiveOne(t, q, 2*time.Second)
	eventuallyStats(t, q, queue.Stats{Visible: 2, InFlight: 1, Delayed: 1})
}

func testConcurrentConsumers(t *testing.T, newQueue NewQueue) {
	const messages, consumers = 50, 4
	q, _ := newQueue(t, Config{Visibility: 20 * time.Second})
	for i := range messages {
		send(t, q, fmt.Sprint("work ", i), queue.SendOptions{})
	}
	var (
		mu        sync.Mutex
		seen      = map[string]int{}
		processed int
	)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range consumers {
		wg.Go(func() {
			for ctx.Err() == nil {
				msgs, err := q.Receive(ctx, queue.ReceiveOptions{MaxMessages: 3, WaitTime: time.Second})
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("Receive: %v", err)
					}
					return
				}
				for _, m := range msgs {
					if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
						t.Errorf("Delete(%s): %v", m.ID, err)
					}
					mu.Lock()
					seen[string(m.Body)]++
					processed++
					if processed >= messages {
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != messages {
		t.Errorf("processed %d distinct messages, want %d", len(seen), messages)
	}
	for body, n := range seen {
		if n != 1 {
			t.Errorf("%q processed %d times", body, n)
		}
	}
	if msgs := receive(t, q, queue.ReceiveOptions{MaxMessages: queue.MaxBatch}); len(msgs) != 0 {
		t.Errorf("%d messages left after all were deleted", len(msgs))
	}
}

func testInvalidArguments(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: 5 * time.Second})
	ctx := t.Context()
	tooMany := map[string]string{}
	for i := range queue.MaxAttributes + 1 {
		tooMany[fmt.Sprint("a", i)] = "v"
	}
	sends := []struct {
		name string
		body []byte
		opts queue.SendOptions
	}{
		{"empty body", nil, queue.SendOptions{}},
		{"body too large", make([]byte, queue.MaxBodySize+1), queue.SendOptions{}},
		{"negative delay", []byte("x"), queue.SendOptions{Delay: -time.Second}},
		{"delay too long", []byte("x"), queue.SendOptions{Delay: queue.MaxDelay + time.Second}},
		{"too many attributes", []byte("x"), queue.SendOptions{Attributes: tooMany}},
		{"empty attribute name", []byte("x"), queue.SendOptions{Attributes: map[string]string{"": "v"}}},
		{"empty attribute value", []byte("x"), queue.SendOptions{Attributes: map[string]string{"k": ""}}},
		{"attribute name with space", []byte("x"), queue.SendOptions{Attributes: map[string]string{"a b": "v"}}},
		{"reserved attribute name", []byte("x"), queue.SendOptions{Attributes: map[string]string{"AWS.x": "v"}}},
		{"attribute name with ..", []byte("x"), queue.SendOptions{Attributes: map[string]string{"a..b": "v"}}},
		{"attribute name too long", []byte("x"), queue.SendOptions{Attributes: map[string]string{strings.Repeat("n", 257): "v"}}},
	}
	for _, tc := range sends {
		if _, err := q.Send(ctx, tc.body, tc.opts); !errors.Is(err, queue.ErrInvalidArgument) {
			t.Errorf("Send with %s: error = %v, want ErrInvalidArgument", tc.name, err)
		}
	}
	receives := []queue.ReceiveOptions{
		{MaxMessages: -1}, {MaxMessages: queue.MaxBatch + 1},
		{WaitTime: -time.Second}, {WaitTime: queue.MaxWaitTime + time.Second},
		{VisibilityTimeout: -time.Second}, {VisibilityTimeout: queue.MaxVisibilityTimeout + time.Second},
	}
	for _, opts := range receives {
		if _, err := q.Receive(ctx, opts); !errors.Is(err, queue.ErrInvalidArgument) {
			t.Errorf("Receive(%+v): error = %v, want ErrInvalidArgument", opts, err)
		}
	}
	send(t, q, "valid", queue.SendOptions{})
	m := receiveOne(t, q, 2*time.Second)
	for _, d := range []time.Duration{-time.Second, queue.MaxVisibilityTimeout + time.Second} {
		if err := q.ChangeVisibility(ctx, m.ReceiptHandle, d); !errors.Is(err, queue.ErrInvalidArgument) {
			t.Errorf("ChangeVisibility(%v): error = %v, want ErrInvalidArgument", d, err)
		}
	}
	for _, h := range []string{"", "garbage", m.ReceiptHandle + "x", "x" + m.ReceiptHandle} {
		if err := q.Delete(ctx, h); !errors.Is(err, queue.ErrInvalidReceipt) {
			t.Errorf("Delete(%q): error = %v, want ErrInvalidReceipt", h, err)
		}
		if err := q.ChangeVisibility(ctx, h, 0); !errors.Is(err, queue.ErrInvalidReceipt) {
			t.Errorf("ChangeVisibility(%q): error = %v, want ErrInvalidReceipt", h, err)
		}
	}
	// None of that disturbed the message.
	deleteMsg(t, q, m)
}

// testTraceContext: a W3C trace context rides in attributes named after
// its headers (traceparent, tracestate), unchanged, on every delivery.
func testTraceContext(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: time.Second})
	attrs := map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":  "imagepipe=00f067aa0ba902b7,other=t61rcWkgMzE",
	}
	id := send(t, q, "job", queue.SendOptions{Attributes: attrs})
	first := receiveOne(t, q, 2*time.Second)
	wantMessage(t, first, id, "job", attrs, 1)
	again := receiveOne(t, q, 3*time.Second) // not deleted: redelivered after the visibility timeout
	wantMessage(t, again, id, "job", attrs, 2)
	deleteMsg(t, q, again)
}

// testOldestAge: a queue that reports the age of its oldest message
// (queue.OldestAger) reports 0 when empty and the oldest message's age,
// in flight or not, otherwise.
func testOldestAge(t *testing.T, newQueue NewQueue) {
	q, _ := newQueue(t, Config{Visibility: 10 * time.Second})
	ager, ok := q.(queue.OldestAger)
	if !ok {
		t.Skip("the driver does not report the oldest message's age")
	}
	age := func() time.Duration {
		t.Helper()
		d, err := ager.OldestAge(t.Context())
		if err != nil {
			t.Fatalf("OldestAge: %v", err)
		}
		return d
	}
	if d := age(); d != 0 {
		t.Errorf("OldestAge of an empty queue = %v, want 0", d)
	}
	sent := time.Now()
	send(t, q, "first", queue.SendOptions{})
	time.Sleep(1100 * time.Millisecond)
	send(t, q, "second", queue.SendOptions{})
	m := receiveOne(t, q, 2*time.Second)
	if d := age(); d < time.Second || d > time.Since(sent)+time.Second {
		t.Errorf("OldestAge = %v, want the first message's age (%v)", d, time.Since(sent))
	}
	deleteMsg(t, q, m)
	rest := receiveOne(t, q, 2*time.Second)
	deleteMsg(t, q, rest)
	if d := age(); d != 0 {
		t.Errorf("OldestAge once every message is deleted = %v, want 0", d)
	}
}
