package sqlitequeue_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
)

func TestDeadLetterQueue(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "queue.db")
	q := newQueue(t, path, sqlitequeue.Options{Name: "work", Visibility: time.Second, MaxReceive: 2, DLQ: "work-dead", PollInterval: 10 * time.Millisecond})
	dlq, err := q.DeadLetterQueue(ctx)
	if err != nil {
		t.Fatalf("DeadLetterQueue: %v", err)
	}
	t.Cleanup(func() { dlq.Close() })
	if got := dlq.(*sqlitequeue.Queue).Options(); got.Name != "work-dead" || got.MaxReceive != 0 {
		t.Fatalf("DLQ options %+v, want name work-dead without redrive", got)
	}

	id, err := q.Send(ctx, []byte("poison"), queue.SendOptions{Attributes: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		msgs, err := q.Receive(ctx, queue.ReceiveOptions{})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("receive %d: %v, %v", i+1, msgs, err)
		}
		if err := q.ChangeVisibility(ctx, msgs[0].ReceiptHandle, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The third receive moves the message to the DLQ and returns nothing.
	if msgs, err := q.Receive(ctx, queue.ReceiveOptions{}); err != nil || len(msgs) != 0 {
		t.Fatalf("receive past MaxReceive: %v, %v; want none", msgs, err)
	}
	msgs, err := dlq.Receive(ctx, queue.ReceiveOptions{WaitTime: time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("DLQ receive: %v, %v; want the message", msgs, err)
	}
	if m := msgs[0]; m.ID != id || string(m.Body) != "poison" || m.Attributes["k"] != "v" {
		t.Errorf("DLQ message %+v, want id %s, body and attributes intact", m, id)
	}
	// The DLQ has no redrive: it can be received again and again.
	for range 3 {
		if err := dlq.ChangeVisibility(ctx, msgs[0].ReceiptHandle, 0); err != nil {
			t.Fatal(err)
		}
		if msgs, err = dlq.Receive(ctx, queue.ReceiveOptions{}); err != nil || len(msgs) != 1 {
			t.Fatalf("DLQ receive again: %v, %v", msgs, err)
		}
	}
}

func TestDeadLetterQueueWithoutRedrive(t *testing.T) {
	q := newQueue(t, filepath.Join(t.TempDir(), "queue.db"), sqlitequeue.Options{Name: "work", MaxReceive: 0})
	dlq, err := q.DeadLetterQueue(t.Context())
	if !errors.Is(err, queue.ErrNoDeadLetterQueue) {
		t.Fatalf("DeadLetterQueue = %v, %v; want ErrNoDeadLetterQueue", dlq, err)
	}
}

func TestDeadLetterQueueAfterClose(t *testing.T) {
	q, err := sqlitequeue.New(filepath.Join(t.TempDir(), "queue.db"), sqlitequeue.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	if _, err := q.DeadLetterQueue(t.Context()); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("DeadLetterQueue after Close: %v, want ErrClosed", err)
	}
}
