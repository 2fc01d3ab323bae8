package sqlitequeue_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/queuetest"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
)

func newQueue(t *testing.T, path string, opts sqlitequeue.Options) *sqlitequeue.Queue {
	t.Helper()
	q, err := sqlitequeue.New(path, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return q
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, cfg queuetest.Config) (queue.Queue, queue.Queue) {
		path := filepath.Join(t.TempDir(), "queue.db")
		q := newQueue(t, path, sqlitequeue.Options{Name: "work", Visibility: cfg.Visibility, MaxReceive: cfg.MaxReceive, DLQ: "work-dead"})
		// The DLQ is opened by URL, as an operator would.
		u := url.URL{Scheme: "sqlite", Path: filepath.ToSlash(path), RawQuery: fmt.Sprintf("name=work-dead&max_receive=0&visibility=%ds", int(cfg.Visibility.Seconds()))}
		dlq, err := queue.Open(t.Context(), u.String())
		if err != nil {
			t.Fatalf("Open(%s): %v", u.String(), err)
		}
		t.Cleanup(func() { dlq.Close() })
		return q, dlq
	})
}

// TestTwoHandlesNeverDoubleDeliver runs consumers on two handles of one
// file, as two processes would have.
func TestTwoHandlesNeverDoubleDeliver(t *testing.T) {
	const messages = 100
	path := filepath.Join(t.TempDir(), "queue.db")
	opts := sqlitequeue.Options{Name: "shared", Visibility: 30 * time.Second, PollInterval: 20 * time.Millisecond}
	handles := []*sqlitequeue.Queue{newQueue(t, path, opts), newQueue(t, path, opts)}
	for i := range messages {
		if _, err := handles[i%2].Send(t.Context(), []byte(fmt.Sprint(i)), queue.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for c := range 6 {
		q := handles[c%2]
		wg.Go(func() {
			for {
				msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{MaxMessages: 4, WaitTime: 300 * time.Millisecond})
				if err != nil {
					t.Error(err)
					return
				}
				if len(msgs) == 0 {
					return
				}
				for _, m := range msgs {
					mu.Lock()
					seen[m.ID]++
					mu.Unlock()
					if err := q.Delete(t.Context(), m.ReceiptHandle); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != messages {
		t.Errorf("received %d distinct messages, want %d", len(seen), messages)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %s delivered %d times", id, n)
		}
	}
}

func TestStaleHandleIsInvalidReceipt(t *testing.T) {
	q := newQueue(t, filepath.Join(t.TempDir(), "q.db"), sqlitequeue.Options{})
	id, err := q.Send(t.Context(), []byte("x"), queue.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recv := func() queue.Message {
		msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("Receive = %d messages, %v", len(msgs), err)
		}
		return msgs[0]
	}
	first := recv()
	if err := q.ChangeVisibility(t.Context(), first.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	second := recv()
	if !strings.HasPrefix(second.ReceiptHandle, id+":") || second.ReceiptHandle == first.ReceiptHandle {
		t.Errorf("handles %q then %q, want distinct and prefixed by the ID", first.ReceiptHandle, second.ReceiptHandle)
	}
	if err := q.Delete(t.Context(), first.ReceiptHandle); !errors.Is(err, queue.ErrInvalidReceipt) {
		t.Errorf("Delete(stale) = %v, want ErrInvalidReceipt", err)
	}
	if err := q.ChangeVisibility(t.Context(), first.ReceiptHandle, 0); !errors.Is(err, queue.ErrInvalidReceipt) {
		t.Errorf("ChangeVisibility(stale) = %v, want ErrInvalidReceipt", err)
	}
	if s, err := q.Stats(t.Context()); err != nil || s != (queue.Stats{InFlight: 1}) {
		t.Errorf("Stats = %+v, %v; want the message still in flight", s, err)
	}
	if err := q.Delete(t.Context(), second.ReceiptHandle); err != nil {
		t.Errorf("Delete(current) = %v", err)
	}
}

// TestSendWakesReceiver shows that an in-process Send wakes a long poll at
// once rather than at the next poll.
func TestSendWakesReceiver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	opts := sqlitequeue.Options{PollInterval: 10 * time.Second}
	receiver, sender := newQueue(t, path, opts), newQueue(t, path, opts)
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		msgs, err := receiver.Receive(t.Context(), queue.ReceiveOptions{WaitTime: 5 * time.Second})
		if err != nil || len(msgs) != 1 {
			t.Errorf("Receive = %d messages, %v", len(msgs), err)
		}
		done <- time.Since(start)
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := sender.Send(t.Context(), []byte("ping"), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := <-done; d > time.Second {
		t.Errorf("Receive returned after %v; the send should have woken it", d)
	}
}

func TestCloseEndsReceive(t *testing.T) {
	q, err := sqlitequeue.New(filepath.Join(t.TempDir(), "q.db"), sqlitequeue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := q.Receive(t.Context(), queue.ReceiveOptions{WaitTime: 10 * time.Second})
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, queue.ErrClosed) {
			t.Errorf("pending Receive = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end a pending Receive")
	}
	if _, err := q.Send(t.Context(), []byte("x"), queue.SendOptions{}); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := q.Close(); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestNewOptions(t *testing.T) {
	dir := t.TempDir()
	q := newQueue(t, filepath.Join(dir, "sub", "q.db"), sqlitequeue.Options{})
	want := sqlitequeue.Options{Name: "jobs", Visibility: 30 * time.Second, PollInterval: 100 * time.Millisecond}
	if got := q.Options(); got != want {
		t.Errorf("Options() = %+v, want %+v", got, want)
	}
	q2 := newQueue(t, filepath.Join(dir, "q.db"), sqlitequeue.Options{Name: "img", MaxReceive: 5})
	if got := q2.Options(); got.DLQ != "img-dlq" || got.MaxReceive != 5 {
		t.Errorf("Options() = %+v, want DLQ img-dlq and MaxReceive 5", got)
	}
	bad := []sqlitequeue.Options{
		{Name: "bad name"},
		{Name: strings.Repeat("n", 81)},
		{Name: "a", MaxReceive: 3, DLQ: "a"},
		{MaxReceive: 3, DLQ: "bad/dlq"},
		{MaxReceive: -1},
		{MaxReceive: 1001},
		{Visibility: -time.Second},
		{Visibility: 13 * time.Hour},
		{PollInterval: time.Microsecond},
	}
	for _, o := range bad {
		if q, err := sqlitequeue.New(filepath.Join(dir, "bad.db"), o); err == nil {
			q.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	if _, err := sqlitequeue.New("", sqlitequeue.Options{}); err == nil {
		t.Error("New with an empty path succeeded")
	}
}

func TestRejectsNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	newQueue(t, path, sqlitequeue.Options{})
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if q, err := sqlitequeue.New(path, sqlitequeue.Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		if err == nil {
			q.Close()
		}
		t.Errorf("New on a newer schema = %v, want an error", err)
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #dir%20", "q.db")
	q := newQueue(t, path, sqlitequeue.Options{})
	if _, err := q.Send(t.Context(), []byte("x"), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "sqlite", Path: filepath.ToSlash(path)}
	other, err := queue.Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if s, err := other.Stats(t.Context()); err != nil || s.Visible != 1 {
		t.Errorf("Stats via URL %s = %+v, %v; want the message sent through New", u.String(), s, err)
	}
}
