package consumer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/consumer"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
)

// newQueue opens an embedded queue in a temp dir, without redrive.
func newQueue(t *testing.T) *sqlitequeue.Queue {
	t.Helper()
	q, err := sqlitequeue.New(filepath.Join(t.TempDir(), "queue.db"), sqlitequeue.Options{Name: "test", PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func send(t *testing.T, q queue.Queue, body string) string {
	t.Helper()
	id, err := q.Send(context.Background(), []byte(body), queue.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs c with handle until the test ends or the returned stop is
// called; stop waits for Run to return and reports how long that took.
func start(t *testing.T, c *consumer.Consumer, handle func(context.Context, queue.Message)) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, handle)
	}()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			began := time.Now()
			cancel()
			<-done
			took = time.Since(began)
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestEveryMessageHandledOnce(t *testing.T) {
	for _, tc := range []struct{ workers, messages int }{
		{workers: 1, messages: 5},
		{workers: 4, messages: 40},
		{workers: 8, messages: 3},
	} {
		t.Run(fmt.Sprintf("%d workers %d messages", tc.workers, tc.messages), func(t *testing.T) {
			q := newQueue(t)
			want := map[string]bool{}
			for i := range tc.messages {
				want[send(t, q, fmt.Sprint("m", i))] = true
			}
			c := consumer.New(q, consumer.Config{Workers: tc.workers, PollWait: 50 * time.Millisecond, Visibility: 30 * time.Second, Grace: time.Second, Log: quiet()})
			var mu sync.Mutex
			seen := map[string]int{}
			all := make(chan struct{})
			stop := start(t, c, func(ctx context.Context, m queue.Message) {
				c.Ack(ctx, m)
				mu.Lock()
				defer mu.Unlock()
				if seen[m.ID]++; len(seen) == tc.messages && seen[m.ID] == 1 {
					close(all)
				}
			})
			select {
			case <-all:
			case <-time.After(20 * time.Second):
				t.Fatal("not every message was handled")
			}
			stop()
			mu.Lock()
			defer mu.Unlock()
			for id, n := range seen {
				if !want[id] || n != 1 {
					t.Errorf("message %s handled %d times (sent: %v)", id, n, want[id])
				}
			}
			if st, err := q.Stats(context.Background()); err != nil || st.Visible+st.InFlight+st.Delayed != 0 {
				t.Errorf("queue after every ack: %+v, %v", st, err)
			}
		})
	}
}

// A handler slower than the visibility timeout keeps its message hidden
// with Heartbeat; without one the message comes back to another receiver.
func TestHeartbeatKeepsSlowMessageHidden(t *testing.T) {
	const visibility, work = time.Second, 2400 * time.Millisecond
	for _, tc := range []struct {
		name        string
		heartbeat   bool
		wantVisible bool
	}{
		{name: "with heartbeat", heartbeat: true, wantVisible: false},
		{name: "without heartbeat", heartbeat: false, wantVisible: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(t)
			id := send(t, q, "slow")
			c := consumer.New(q, consumer.Config{Workers: 1, PollWait: 50 * time.Millisecond, Visibility: visibility, Grace: 5 * time.Second, Log: quiet()})
			handled := make(chan struct{})
			stop := start(t, c, func(ctx context.Context, m queue.Message) {
				defer close(handled)
				if tc.heartbeat {
					defer c.Heartbeat(ctx, m)()
				}
				time.Sleep(work)
			})
			time.Sleep(work / 3) // the worker has it
			stolen, err := q.Receive(context.Background(), queue.ReceiveOptions{WaitTime: work / 2})
			if err != nil {
				t.Fatal(err)
			}
			if visible := len(stolen) == 1 && stolen[0].ID == id; visible != tc.wantVisible {
				t.Errorf("message received by another while in hand: %v, want %v", visible, tc.wantVisible)
			}
			<-handled
			stop()
		})
	}
}

// When Run's context ends, a handler in flight keeps its context for the
// grace period: one that finishes within it is not cancelled, one that
// overruns it is, and Run returns once both are done.
func TestShutdownGrace(t *testing.T) {
	const grace = 500 * time.Millisecond
	for _, tc := range []struct {
		name          string
		work          time.Duration
		wantCancelled bool
	}{
		{name: "finishes within grace", work: grace / 3, wantCancelled: false},
		{name: "overruns grace", work: 10 * time.Second, wantCancelled: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(t)
			send(t, q, "in flight")
			c := consumer.New(q, consumer.Config{Workers: 2, PollWait: 50 * time.Millisecond, Visibility: 30 * time.Second, Grace: grace, Log: quiet()})
			began := make(chan struct{})
			var cancelled bool
			var handled int
			stop := start(t, c, func(ctx context.Context, m queue.Message) {
				handled++
				close(began)
				select {
				case <-ctx.Done():
					cancelled = true
				case <-time.After(tc.work):
					c.Ack(ctx, m)
				}
			})
			<-began
			took := stop()
			if cancelled != tc.wantCancelled {
				t.Errorf("handler cancelled: %v, want %v", cancelled, tc.wantCancelled)
			}
			if handled != 1 {
				t.Errorf("handled %d messages, want 1", handled)
			}
			if took > grace+2*time.Second {
				t.Errorf("Run took %s to return after its context ended (grace %s)", took, grace)
			}
			if tc.wantCancelled && took < grace {
				t.Errorf("handler cancelled after %s, before the grace of %s", took, grace)
			}
		})
	}
}

// A failed receive is logged, and the worker waits
// a second before the next, or until Run's context ends.
func TestReceiveErrorWaits(t *testing.T) {
	q := newQueue(t)
	q.Close() // every receive fails
	logs := make(logLines, 16)
	c := consumer.New(q, consumer.Config{Workers: 1, PollWait: 50 * time.Millisecond, Visibility: time.Second, Grace: time.Second,
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	stop := start(t, c, func(context.Context, queue.Message) { t.Error("handled a message of a closed queue") })
	time.Sleep(1500 * time.Millisecond)
	if took := stop(); took > 500*time.Millisecond {
		t.Errorf("Run took %s to return while waiting after a failed receive", took)
	}
	close(logs)
	var n int
	for line := range logs {
		if !strings.Contains(line, `msg="queue receive failed; retrying in a second"`) {
			t.Errorf("logged %q, want a receive failure", line)
		}
		n++
	}
	if n < 1 || n > 2 {
		t.Errorf("%d receive failures logged in 1.5s, want 1 or 2 (one a second)", n)
	}
}

// logLines passes each log line on to a channel (dropping it when the
// channel is full).
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		base, limit time.Duration
		n           int
		want        time.Duration
	}{
		{base: 2 * time.Second, limit: 15 * time.Minute, n: 1, want: 2 * time.Second},
		{base: 2 * time.Second, limit: 15 * time.Minute, n: 2, want: 4 * time.Second},
		{base: 2 * time.Second, limit: 15 * time.Minute, n: 5, want: 32 * time.Second},
		{base: 2 * time.Second, limit: 15 * time.Minute, n: 9, want: 512 * time.Second},
		{base: 2 * time.Second, limit: 15 * time.Minute, n: 10, want: 15 * time.Minute},
		{base: 2 * time.Second, limit: 15 * time.Minute, n: 1000, want: 15 * time.Minute},
		{base: 10 * time.Second, limit: time.Hour, n: 12, want: time.Hour},
		{base: 50 * time.Millisecond, limit: time.Second, n: 3, want: 200 * time.Millisecond},
		{base: 50 * time.Millisecond, limit: time.Second, n: 6, want: time.Second},
		{base: 0, limit: 15 * time.Minute, n: 3, want: 0},
		{base: time.Minute, limit: time.Second, n: 1, want: time.Second},
		{base: time.Second, limit: 1<<63 - 1, n: 100, want: 1<<63 - 1},
	} {
		if got := consumer.Backoff(tc.base, tc.limit, tc.n); got != tc.want {
			t.Errorf("Backoff(%s, %s, %d) = %s, want %s", tc.base, tc.limit, tc.n, got, tc.want)
		}
	}
}
