package sqsqueue_test

import (
	"errors"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

func TestDeadLetterQueue(t *testing.T) {
	ctx := t.Context()
	cfg := awstest.Config(t, "SQS")
	_, queueURL, dlqURL := ensure(t, cfg, 2, 30*time.Second)
	q := open(t, cfg, queueURL, sqsqueue.Options{})
	dq, err := q.DeadLetterQueue(ctx)
	if err != nil {
		t.Fatalf("DeadLetterQueue: %v", err)
	}
	t.Cleanup(func() { dq.Close() })
	dlq := dq.(*sqsqueue.Queue)
	if dlq.URL() != dlqURL || dlq.MaxReceive() != 0 {
		t.Fatalf("DLQ %s (max receive %d), want %s without redrive", dlq.URL(), dlq.MaxReceive(), dlqURL)
	}

	id, err := q.Send(ctx, []byte("poison"), queue.SendOptions{Attributes: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		msgs, err := q.Receive(ctx, queue.ReceiveOptions{WaitTime: 5 * time.Second})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("receive %d: %v, %v", i+1, msgs, err)
		}
		if err := q.ChangeVisibility(ctx, msgs[0].ReceiptHandle, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The next receive moves the message to the DLQ.
	if msgs, err := q.Receive(ctx, queue.ReceiveOptions{WaitTime: time.Second}); err != nil || len(msgs) != 0 {
		t.Fatalf("receive past max receive: %v, %v; want none", msgs, err)
	}
	msgs, err := dlq.Receive(ctx, queue.ReceiveOptions{WaitTime: 5 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("DLQ receive: %v, %v; want the message", msgs, err)
	}
	if m := msgs[0]; m.ID != id || string(m.Body) != "poison" || m.Attributes["k"] != "v" {
		t.Errorf("DLQ message %+v, want id %s, body and attributes intact", m, id)
	}
	if err := dlq.Delete(ctx, msgs[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}

	if err := dq.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Send(ctx, []byte("still open"), queue.SendOptions{}); err != nil {
		t.Errorf("closing the DLQ handle closed the queue: %v", err)
	}
}

func TestDeadLetterQueueWithoutRedrive(t *testing.T) {
	cfg := awstest.Config(t, "SQS")
	_, queueURL, _ := ensure(t, cfg, 0, 30*time.Second)
	q := open(t, cfg, queueURL, sqsqueue.Options{})
	dlq, err := q.DeadLetterQueue(t.Context())
	if !errors.Is(err, queue.ErrNoDeadLetterQueue) {
		t.Fatalf("DeadLetterQueue = %v, %v; want ErrNoDeadLetterQueue", dlq, err)
	}
}
