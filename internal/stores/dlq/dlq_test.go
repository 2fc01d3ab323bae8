package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/internal/stores/dlq"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// pair returns a job queue and its dead-letter queue.
type pair func(t *testing.T) (src, dead queue.Queue)

func sqlitePair(t *testing.T) (queue.Queue, queue.Queue) {
	q, err := sqlitequeue.New(filepath.Join(t.TempDir(), "queue.db"), sqlitequeue.Options{Name: "jobs", MaxReceive: 3, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q, deadLetterQueue(t, q)
}

func sqsPair(t *testing.T) (queue.Queue, queue.Queue) {
	cfg := awstest.Config(t, "SQS")
	queueURL, dlqURL, err := sqsqueue.Ensure(t.Context(), cfg, awstest.Name("dlq"), 3, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client := sqs.NewFromConfig(cfg)
		for _, u := range []string{queueURL, dlqURL} {
			if _, err := client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
				t.Errorf("DeleteQueue(%s): %v", u, err)
			}
		}
	})
	q, err := sqsqueue.New(t.Context(), cfg, queueURL, sqsqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q, deadLetterQueue(t, q)
}

func deadLetterQueue(t *testing.T, q queue.Queue) queue.Queue {
	t.Helper()
	d, err := q.(queue.DeadLetterer).DeadLetterQueue(t.Context())
	if err != nil {
		t.Fatalf("DeadLetterQueue: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// eachBackend runs test against a queue pair of every backend, in parallel.
func eachBackend(t *testing.T, test func(t *testing.T, src, dead queue.Queue)) {
	for name, p := range map[string]pair{"sqlite": sqlitePair, "sqs": sqsPair} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, dead := p(t)
			test(t, src, dead)
		})
	}
}

// fill sends n messages "m0".."m<n-1>" to q, each with an attribute, and
// returns their IDs by body.
func fill(t *testing.T, q queue.Queue, n int) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for i := range n {
		body := fmt.Sprint("m", i)
		id, err := q.Send(t.Context(), []byte(body), queue.SendOptions{Attributes: map[string]string{"n": body}})
		if err != nil {
			t.Fatal(err)
		}
		ids[body] = id
	}
	return ids
}

// drain receives and deletes every message of q and returns the bodies,
// sorted, checking that each kept its attribute.
func drain(t *testing.T, q queue.Queue) []string {
	t.Helper()
	var bodies []string
	for {
		msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{MaxMessages: queue.MaxBatch, WaitTime: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			sort.Strings(bodies)
			return bodies
		}
		for _, m := range msgs {
			if m.Attributes["n"] != string(m.Body) {
				t.Errorf("message %q has attributes %v", m.Body, m.Attributes)
			}
			bodies = append(bodies, string(m.Body))
			if err := q.Delete(t.Context(), m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// listIDs lists q and returns the message IDs, sorted, failing on a
// duplicate.
func listIDs(t *testing.T, q queue.Queue, limit int) []string {
	t.Helper()
	msgs, err := dlq.List(t.Context(), q, limit)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var ids []string
	for _, m := range msgs {
		if slices.Contains(ids, m.ID) {
			t.Fatalf("List returned %s twice", m.ID)
		}
		ids = append(ids, m.ID)
	}
	sort.Strings(ids)
	return ids
}

func sortedValues(m map[string]string, keys ...string) []string {
	var out []string
	if keys == nil {
		for _, v := range m {
			out = append(out, v)
		}
	}
	for _, k := range keys {
		out = append(out, m[k])
	}
	sort.Strings(out)
	return out
}

func TestListDoesNotConsume(t *testing.T) {
	eachBackend(t, func(t *testing.T, src, dead queue.Queue) {
		ids := fill(t, dead, 25) // more than one receive batch
		want := sortedValues(ids)
		for i := range 2 {
			if got := listIDs(t, dead, 100); !slices.Equal(got, want) {
				t.Fatalf("listing %d: %d messages %v, want the %d sent", i+1, len(got), got, len(want))
			}
		}
		if got := listIDs(t, dead, 12); len(got) != 12 {
			t.Errorf("List(12) returned %d messages", len(got))
		}
		st, err := dead.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Visible != 25 || st.InFlight != 0 {
			t.Errorf("after listing: %+v, want 25 visible, none in flight", st)
		}
		if got := drain(t, src); len(got) != 0 {
			t.Errorf("listing sent %v to the source queue", got)
		}
	})
}

func TestListEmpty(t *testing.T) {
	eachBackend(t, func(t *testing.T, _, dead queue.Queue) {
		if got := listIDs(t, dead, 100); len(got) != 0 {
			t.Fatalf("List of an empty queue: %v", got)
		}
	})
}

func TestMove(t *testing.T) {
	eachBackend(t, func(t *testing.T, src, dead queue.Queue) {
		ids := fill(t, dead, 25)
		moved, notFound, err := dlq.Move(t.Context(), src, dead, []string{ids["m3"], "no-such-message", ids["m3"]}, false)
		if err != nil {
			t.Fatalf("Move: %v", err)
		}
		if !slices.Equal(moved, []string{ids["m3"]}) || !slices.Equal(notFound, []string{"no-such-message"}) {
			t.Fatalf("Move(one) = moved %v, not found %v; want [%s], [no-such-message]", moved, notFound, ids["m3"])
		}
		if got := drain(t, src); !slices.Equal(got, []string{"m3"}) {
			t.Fatalf("source queue holds %v, want [m3]", got)
		}
		delete(ids, "m3")
		if got, want := listIDs(t, dead, 100), sortedValues(ids); !slices.Equal(got, want) {
			t.Fatalf("DLQ after moving one: %v, want %v", got, want)
		}

		moved, notFound, err = dlq.Move(t.Context(), src, dead, nil, true)
		if err != nil {
			t.Fatalf("Move(all): %v", err)
		}
		if len(moved) != 24 || len(notFound) != 0 {
			t.Fatalf("Move(all) = %d moved, not found %v; want 24 moved", len(moved), notFound)
		}
		if got := drain(t, src); len(got) != 24 || slices.Contains(got, "m3") {
			t.Fatalf("source queue holds %v, want the 24 others", got)
		}
		if got := listIDs(t, dead, 100); len(got) != 0 {
			t.Fatalf("DLQ after moving all: %v", got)
		}
	})
}

func TestPurge(t *testing.T) {
	eachBackend(t, func(t *testing.T, src, dead queue.Queue) {
		ids := fill(t, dead, 12)
		deleted, notFound, err := dlq.Purge(t.Context(), dead, []string{ids["m0"], ids["m11"], "gone"}, false)
		if err != nil {
			t.Fatalf("Purge: %v", err)
		}
		sort.Strings(deleted)
		if want := sortedValues(ids, "m0", "m11"); !slices.Equal(deleted, want) || !slices.Equal(notFound, []string{"gone"}) {
			t.Fatalf("Purge = deleted %v, not found %v; want %v, [gone]", deleted, notFound, want)
		}
		delete(ids, "m0")
		delete(ids, "m11")
		if got, want := listIDs(t, dead, 100), sortedValues(ids); !slices.Equal(got, want) {
			t.Fatalf("DLQ after purging two: %v, want %v", got, want)
		}
		// A second purge by id: one found, the other still not.
		deleted, notFound, err = dlq.Purge(t.Context(), dead, []string{ids["m1"], "gone"}, false)
		if err != nil || len(deleted) != 1 || !slices.Equal(notFound, []string{"gone"}) {
			t.Fatalf("Purge = %v, %v, %v", deleted, notFound, err)
		}
		deleted, _, err = dlq.Purge(t.Context(), dead, nil, true)
		if err != nil || len(deleted) != 9 {
			t.Fatalf("Purge(all) = %v, %v; want 9 deleted", deleted, err)
		}
		if got := listIDs(t, dead, 100); len(got) != 0 {
			t.Fatalf("DLQ after purging all: %v", got)
		}
		if got := drain(t, src); len(got) != 0 {
			t.Errorf("purging sent %v to the source queue", got)
		}
	})
}

func TestEachKeepsAndStops(t *testing.T) {
	eachBackend(t, func(t *testing.T, _, dead queue.Queue) {
		ids := fill(t, dead, 6)
		var called []string
		deleted, _, err := dlq.Each(t.Context(), dead, nil, true, func(_ context.Context, m queue.Message) (bool, error) {
			called = append(called, m.ID)
			return string(m.Body) < "m3", nil // delete m0..m2, keep m3..m5
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(deleted)
		if want := sortedValues(ids, "m0", "m1", "m2"); !slices.Equal(deleted, want) || len(called) != 6 {
			t.Fatalf("Each deleted %v after %d calls; want %v after 6", deleted, len(called), want)
		}
		if got, want := listIDs(t, dead, 100), sortedValues(ids, "m3", "m4", "m5"); !slices.Equal(got, want) {
			t.Fatalf("DLQ holds %v, want the kept %v", got, want)
		}

		boom := errors.New("boom")
		deleted, notFound, err := dlq.Each(t.Context(), dead, nil, true, func(context.Context, queue.Message) (bool, error) {
			return false, boom
		})
		if !errors.Is(err, boom) || len(deleted) != 0 || notFound != nil {
			t.Fatalf("Each with a failing callback = %v, %v, %v; want boom", deleted, notFound, err)
		}
		if got := listIDs(t, dead, 100); len(got) != 3 {
			t.Fatalf("after a failed Each the DLQ shows %d messages, want 3 (all released)", len(got))
		}
	})
}
