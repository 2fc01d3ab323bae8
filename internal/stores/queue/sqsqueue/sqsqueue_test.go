package sqsqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/queuetest"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// ensure creates a fresh queue (and DLQ when maxReceive > 0) with a unique
// name and deletes both when the test ends.
func ensure(t *testing.T, cfg aws.Config, maxReceive int, visibility time.Duration) (name, queueURL, dlqURL string) {
	t.Helper()
	name = awstest.Name("sqsqueue")
	queueURL, dlqURL, err := sqsqueue.Ensure(t.Context(), cfg, name, maxReceive, visibility)
	if err != nil {
		t.Fatalf("Ensure(%s): %v", name, err)
	}
	t.Cleanup(func() {
		client := sqs.NewFromConfig(cfg)
		for _, u := range []string{queueURL, dlqURL} {
			if u == "" {
				continue
			}
			if _, err := client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
				t.Errorf("DeleteQueue(%s): %v", u, err)
			}
		}
	})
	return name, queueURL, dlqURL
}

// open opens queueURL with New and closes it when the test ends.
func open(t *testing.T, cfg aws.Config, queueURL string, opts sqsqueue.Options) *sqsqueue.Queue {
	t.Helper()
	q, err := sqsqueue.New(t.Context(), cfg, queueURL, opts)
	if err != nil {
		t.Fatalf("New(%s): %v", queueURL, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// openURL opens a driver URL through package queue, as the app does.
func openURL(t *testing.T, rawURL string) queue.Queue {
	t.Helper()
	q, err := queue.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("queue.Open(%s): %v", rawURL, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestConformance(t *testing.T) {
	cfg := awstest.Config(t, "SQS")
	queuetest.Run(t, func(t *testing.T, c queuetest.Config) (queue.Queue, queue.Queue) {
		name, queueURL, dlqURL := ensure(t, cfg, c.MaxReceive, c.Visibility)
		q := open(t, cfg, queueURL, sqsqueue.Options{})
		if got := q.MaxReceive(); got != c.MaxReceive {
			t.Fatalf("MaxReceive() = %d, want %d", got, c.MaxReceive)
		}
		if dlqURL == "" {
			return q, nil
		}
		// The DLQ is opened by name through the registry, as an operator
		// would.
		return q, openURL(t, fmt.Sprintf("sqs://%s%s", name, sqsqueue.DLQSuffix))
	})
}
