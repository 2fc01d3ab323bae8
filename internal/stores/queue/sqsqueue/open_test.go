package sqsqueue_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// TestOpenForms opens one queue through every URL form and New, and passes
// a message from each handle to the next.
func TestOpenForms(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	name, queueURL, _ := ensure(t, cfg, 0, 30*time.Second)
	handles := map[string]queue.Queue{
		"New":          open(t, cfg, queueURL, sqsqueue.Options{}),
		"sqs://name":   openURL(t, "sqs://"+name+"?visibility=30&wait=5s"),
		"sqs+http://…": openURL(t, "sqs+"+queueURL),
	}
	order := []string{"New", "sqs://name", "sqs+http://…", "New"}
	for i := range len(order) - 1 {
		from, to := handles[order[i]], handles[order[i+1]]
		body := "from " + order[i]
		id, err := from.Send(t.Context(), []byte(body), queue.SendOptions{})
		if err != nil {
			t.Fatalf("%s: Send: %v", order[i], err)
		}
		msgs, err := to.Receive(t.Context(), queue.ReceiveOptions{WaitTime: 2 * time.Second})
		if err != nil || len(msgs) != 1 || msgs[0].ID != id || string(msgs[0].Body) != body {
			t.Fatalf("%s received %v, %v; want %s %q", order[i+1], msgs, err, id, body)
		}
		if err := to.Delete(t.Context(), msgs[0].ReceiptHandle); err != nil {
			t.Fatalf("%s: Delete: %v", order[i+1], err)
		}
	}
	if got := handles["sqs://name"].(*sqsqueue.Queue).URL(); got != queueURL {
		t.Errorf("sqs://%s resolved to %s, want %s", name, got, queueURL)
	}
}

func TestOpenMissingQueue(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	name := awstest.Name("missing")
	if _, err := queue.Open(t.Context(), "sqs://"+name); !errors.Is(err, sqsqueue.ErrQueueDoesNotExist) {
		t.Errorf("queue.Open(sqs://%s) = %v, want ErrQueueDoesNotExist", name, err)
	}
	_, queueURL, _ := ensure(t, cfg, 0, time.Second)
	missing := strings.TrimSuffix(queueURL, "/"+queueURL[strings.LastIndex(queueURL, "/")+1:]) + "/" + name
	if _, err := sqsqueue.New(t.Context(), cfg, missing, sqsqueue.Options{}); !errors.Is(err, sqsqueue.ErrQueueDoesNotExist) {
		t.Errorf("New(%s) = %v, want ErrQueueDoesNotExist", missing, err)
	}
}

// TestOpenRefusesUnsuitableQueues shows that New refuses queues whose
// defaults would apply where a caller asks for no delay or no wait.
func TestOpenRefusesUnsuitableQueues(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	client := sqs.NewFromConfig(cfg)
	for attr, value := range map[string]string{"DelaySeconds": "5", "ReceiveMessageWaitTimeSeconds": "10"} {
		_, queueURL, _ := ensure(t, cfg, 0, time.Second)
		if _, err := client.SetQueueAttributes(t.Context(), &sqs.SetQueueAttributesInput{
			QueueUrl: aws.String(queueURL), Attributes: map[string]string{attr: value},
		}); err != nil {
			t.Fatal(err)
		}
		if q, err := sqsqueue.New(t.Context(), cfg, queueURL, sqsqueue.Options{}); err == nil || !strings.Contains(err.Error(), attr) {
			if err == nil {
				q.Close()
			}
			t.Errorf("New on a queue with %s=%s = %v, want an error naming it", attr, value, err)
		}
	}
	if _, err := sqsqueue.New(t.Context(), cfg, "http://localhost:1/000000000000/jobs", sqsqueue.Options{Visibility: 1500 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "whole seconds") {
		t.Errorf("New with a fractional visibility = %v, want an error", err)
	}
}

// TestVisibilityOption shows that Options.Visibility replaces the queue's
// default for receives that give none.
func TestVisibilityOption(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	_, queueURL, _ := ensure(t, cfg, 0, time.Minute)
	q := open(t, cfg, queueURL, sqsqueue.Options{Visibility: time.Second})
	if _, err := q.Send(t.Context(), []byte("x"), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	receiveAll(t, q, 1)
	start := time.Now()
	again := receiveAll(t, q, 1) // the queue's 60s would fail this
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("redelivered after %v, want about 1s", elapsed)
	}
	if again[0].ReceiveCount != 2 {
		t.Errorf("ReceiveCount = %d, want 2", again[0].ReceiveCount)
	}
}

// TestMaxWaitSplitsLongPolls shows that a Receive longer than MaxWait waits
// its whole WaitTime over several calls, and still returns a message that
// arrives during a later call.
func TestMaxWaitSplitsLongPolls(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	_, queueURL, _ := ensure(t, cfg, 0, 10*time.Second)
	q := open(t, cfg, queueURL, sqsqueue.Options{MaxWait: time.Second})

	start := time.Now()
	msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{WaitTime: 3 * time.Second})
	if elapsed := time.Since(start); err != nil || len(msgs) != 0 || elapsed < 2900*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("empty Receive(3s) with 1s calls = %d messages, %v after %v; want none after about 3s", len(msgs), err, elapsed)
	}

	sent := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		_, err := q.Send(t.Context(), []byte("late"), queue.SendOptions{})
		sent <- err
	}()
	start = time.Now()
	msgs, err = q.Receive(t.Context(), queue.ReceiveOptions{WaitTime: 3 * time.Second})
	if err := <-sent; err != nil { // before Close, which would cut the Send short
		t.Fatal(err)
	}
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != "late" {
		t.Fatalf("Receive(3s) = %v, %v; want the message sent at 1.5s", msgs, err)
	}
	if elapsed := time.Since(start); elapsed < time.Second || elapsed > 2500*time.Millisecond {
		t.Errorf("message sent at 1.5s received after %v", elapsed)
	}
}

func TestCloseEndsReceive(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	_, queueURL, _ := ensure(t, cfg, 0, time.Second)
	q, err := sqsqueue.New(t.Context(), cfg, queueURL, sqsqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := q.Receive(t.Context(), queue.ReceiveOptions{WaitTime: 10 * time.Second})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
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
