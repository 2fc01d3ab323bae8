package sqsqueue_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// receiveAll receives n messages, failing after a few seconds.
func receiveAll(t *testing.T, q queue.Queue, n int) []queue.Message {
	t.Helper()
	var got []queue.Message
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{MaxMessages: queue.MaxBatch, WaitTime: time.Second})
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		got = append(got, msgs...)
	}
	if len(got) != n {
		t.Fatalf("received %d messages, want %d", len(got), n)
	}
	return got
}

func TestDeleteBatch(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	_, queueURL, _ := ensure(t, cfg, 0, time.Second)
	q := open(t, cfg, queueURL, sqsqueue.Options{})
	const n = 13 // two requests: 10 + 3
	for i := range n {
		if _, err := q.Send(t.Context(), []byte(fmt.Sprint("batch ", i)), queue.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	msgs := receiveAll(t, q, n)
	handles := make([]string, len(msgs))
	for i, m := range msgs {
		handles[i] = m.ReceiptHandle
	}

	// One malformed handle fails the call before any request.
	bad := append([]string{handles[0] + "x"}, handles[1:]...)
	if err := q.DeleteBatch(t.Context(), bad); !errors.Is(err, queue.ErrInvalidReceipt) || !strings.Contains(err.Error(), "handle 0") {
		t.Fatalf("DeleteBatch with a malformed handle = %v, want ErrInvalidReceipt naming handle 0", err)
	}
	if s, err := q.Stats(t.Context()); err != nil || s.InFlight != n {
		t.Fatalf("after the refused batch: Stats = %+v, %v; want all %d in flight", s, err, n)
	}

	if err := q.DeleteBatch(t.Context(), handles); err != nil {
		t.Fatalf("DeleteBatch: %v", err)
	}
	if err := q.DeleteBatch(t.Context(), nil); err != nil {
		t.Errorf("DeleteBatch(nil) = %v", err)
	}
	// Gone for good: nothing comes back after the 1s visibility timeout.
	time.Sleep(1100 * time.Millisecond)
	msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{MaxMessages: queue.MaxBatch, WaitTime: time.Second})
	if err != nil || len(msgs) != 0 {
		t.Fatalf("Receive after DeleteBatch = %d messages, %v; want none", len(msgs), err)
	}
	if s, err := q.Stats(t.Context()); err != nil || s != (queue.Stats{}) {
		t.Errorf("Stats after DeleteBatch = %+v, %v; want zero", s, err)
	}
}

func TestBatchError(t *testing.T) {
	err := error(&sqsqueue.BatchError{Failed: map[int]error{
		7: fmt.Errorf("%w: gone", queue.ErrInvalidReceipt),
		2: errors.New("throttled"),
	}})
	if !errors.Is(err, queue.ErrInvalidReceipt) {
		t.Errorf("errors.Is(%v, ErrInvalidReceipt) = false", err)
	}
	msg := err.Error()
	if i2, i7 := strings.Index(msg, "handle 2: throttled"), strings.Index(msg, "handle 7: queue: invalid receipt handle"); i2 < 0 || i7 < i2 {
		t.Errorf("Error() = %q, want handle 2 then handle 7", msg)
	}
	if errors.Is(&sqsqueue.BatchError{Failed: map[int]error{0: errors.New("x")}}, queue.ErrInvalidReceipt) {
		t.Error("a BatchError without receipt errors matches ErrInvalidReceipt")
	}
}
