package sqlitequeue_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
)

// The collector reads the queue and its dead-letter queue at each scrape:
// a message sent, then received, then dead-lettered moves between the
// gauges, and the oldest age follows it.
func TestCollector(t *testing.T) {
	q := newQueue(t, filepath.Join(t.TempDir(), "queue.db"),
		sqlitequeue.Options{Name: "jobs", Visibility: time.Second, MaxReceive: 1, DLQ: "jobs-dead", PollInterval: 20 * time.Millisecond})
	c := queue.NewCollector("jobs", q, 2*time.Second)
	t.Cleanup(func() { c.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	// Another queue's collector beside it (one process reports the jobs
	// and the events queues) adds its own series.
	events := newQueue(t, filepath.Join(t.TempDir(), "events.db"), sqlitequeue.Options{Name: "events"})
	reg.MustRegister(queue.NewCollector("events", events, time.Second))

	scrape := func(want string) {
		t.Helper()
		err := testutil.GatherAndCompare(reg, strings.NewReader(want), "imagepipe_queue_messages", "imagepipe_queue_up")
		if err != nil {
			t.Error(err)
		}
	}
	const head = `
# HELP imagepipe_queue_messages Messages in the queue, approximately, by kind: visible (waiting), in_flight (received, not yet deleted), delayed (sent with a delay).
# TYPE imagepipe_queue_messages gauge
# HELP imagepipe_queue_up 1 when the queue's counts were read at this scrape, 0 when reading them failed or timed out.
# TYPE imagepipe_queue_up gauge
imagepipe_queue_up{queue="events"} 1
imagepipe_queue_up{queue="jobs"} 1
imagepipe_queue_up{queue="jobs_dlq"} 1
`
	counts := func(jobsVisible, jobsInFlight, jobsDelayed, dlqVisible int) string {
		return head + strings.NewReplacer("A", itoa(jobsVisible), "B", itoa(jobsInFlight), "C", itoa(jobsDelayed), "D", itoa(dlqVisible)).Replace(`
imagepipe_queue_messages{kind="visible",queue="events"} 0
imagepipe_queue_messages{kind="in_flight",queue="events"} 0
imagepipe_queue_messages{kind="delayed",queue="events"} 0
imagepipe_queue_messages{kind="visible",queue="jobs"} A
imagepipe_queue_messages{kind="in_flight",queue="jobs"} B
imagepipe_queue_messages{kind="delayed",queue="jobs"} C
imagepipe_queue_messages{kind="visible",queue="jobs_dlq"} D
imagepipe_queue_messages{kind="in_flight",queue="jobs_dlq"} 0
imagepipe_queue_messages{kind="delayed",queue="jobs_dlq"} 0
`)
	}
	scrape(counts(0, 0, 0, 0))
	if _, err := q.Send(t.Context(), []byte("job"), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Send(t.Context(), []byte("later"), queue.SendOptions{Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	scrape(counts(1, 0, 1, 0))
	if msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{WaitTime: time.Second}); err != nil || len(msgs) != 1 {
		t.Fatalf("Receive = %d messages, %v; want 1", len(msgs), err)
	}
	scrape(counts(0, 1, 1, 0))
	age := testutil.ToFloat64(oldest(t, reg, "jobs"))
	if age < 0 || age > 5 {
		t.Errorf("oldest age %v s, want the few ms since the sends", age)
	}
	// Received once with MaxReceive 1: the next receive moves it to the DLQ.
	time.Sleep(1100 * time.Millisecond)
	if msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{}); err != nil || len(msgs) != 0 {
		t.Fatalf("Receive = %d messages, %v; want none (the job is dead-lettered)", len(msgs), err)
	}
	scrape(counts(0, 0, 1, 1))
	if age := testutil.ToFloat64(oldest(t, reg, "jobs_dlq")); age < 1 {
		t.Errorf("dead letter's age %v s, want at least the 1.1 s it waited", age)
	}
}

// oldest returns the collected imagepipe_queue_oldest_age_seconds of a
// queue as a collector testutil can read.
func oldest(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "imagepipe_queue_oldest_age_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == name {
				g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "age"})
				g.Set(m.GetGauge().GetValue())
				return g
			}
		}
	}
	t.Fatalf("no imagepipe_queue_oldest_age_seconds for %s", name)
	return nil
}

func itoa(n int) string { return string(rune('0' + n)) }
