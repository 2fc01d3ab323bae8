package sqlitequeue_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
)

// consumerEnv, when set to a database path, turns the test binary into a
// consumer process for TestProcessesNeverDoubleDeliver.
const consumerEnv = "SQLITEQUEUE_TEST_CONSUMER_DB"

var processOpts = sqlitequeue.Options{Name: "mp", Visibility: 30 * time.Second, PollInterval: 20 * time.Millisecond}

func TestMain(m *testing.M) {
	if path := os.Getenv(consumerEnv); path != "" {
		if err := consume(path); err != nil {
			fmt.Fprintln(os.Stderr, "consumer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// consume prints "ready", then "got <id>" for each message it receives
// and deletes, and returns once the queue has been idle for 1.5s.
func consume(path string) error {
	q, err := sqlitequeue.New(path, processOpts)
	if err != nil {
		return err
	}
	defer q.Close()
	ctx := context.Background()
	fmt.Println("ready")
	for {
		msgs, err := q.Receive(ctx, queue.ReceiveOptions{MaxMessages: 5, WaitTime: 1500 * time.Millisecond})
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		for _, m := range msgs {
			fmt.Println("got", m.ID)
			if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
				return err
			}
		}
	}
}

// TestProcessesNeverDoubleDeliver runs two consumer processes on one file
// while this process sends; every message must be delivered exactly once.
func TestProcessesNeverDoubleDeliver(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const messages = 150
	path := filepath.Join(t.TempDir(), "queue.db")
	producer := newQueue(t, path, processOpts)

	type child struct {
		cmd    *exec.Cmd
		out    *bufio.Scanner
		stderr bytes.Buffer
	}
	children := make([]*child, 2)
	for i := range children {
		c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		c.cmd.Env = append(os.Environ(), consumerEnv+"="+path)
		c.cmd.Stderr = &c.stderr
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
		c.out = bufio.NewScanner(stdout)
		if !c.out.Scan() || c.out.Text() != "ready" {
			t.Fatalf("consumer %d did not start: %q %s", i, c.out.Text(), c.stderr.String())
		}
		children[i] = c
	}

	sent := map[string]bool{}
	for i := range messages {
		id, err := producer.Send(t.Context(), []byte(fmt.Sprint("job ", i)), queue.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sent[id] = true
		if i%50 == 0 {
			time.Sleep(100 * time.Millisecond) // let consumers go idle and long-poll
		}
	}

	got := map[string]int{}
	perChild := make([]int, len(children))
	for i, c := range children {
		for c.out.Scan() {
			id, ok := strings.CutPrefix(c.out.Text(), "got ")
			if !ok {
				t.Errorf("consumer %d printed %q", i, c.out.Text())
				continue
			}
			got[id]++
			perChild[i]++
		}
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("consumer %d: %v: %s", i, err, c.stderr.String())
		}
	}
	for id := range sent {
		if got[id] != 1 {
			t.Errorf("message %s delivered %d times, want 1", id, got[id])
		}
	}
	if len(got) != len(sent) {
		t.Errorf("consumers reported %d distinct messages, %d were sent", len(got), len(sent))
	}
	t.Logf("messages per consumer process: %v", perChild)
}
