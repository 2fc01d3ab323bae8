// Package queuetest is the conformance suite for queue.Queue drivers.
// Every driver's tests call Run, so that drivers are interchangeable:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T, cfg queuetest.Config) (queue.Queue, queue.Queue) {
//			// Create a fresh queue and its dead-letter queue configured by
//			// cfg, close both with t.Cleanup, and return them.
//		})
//	}
//
// The suite uses whole-second timeouts only (as SQS does) and runs its
// subtests in parallel; it takes a few seconds of mostly idle waiting.
package queuetest

import (
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// Config is what a subtest needs from the queues it is given.
type Config struct {
	// Visibility is the queue's default visibility timeout, in whole
	// seconds.
	Visibility time.Duration
	// MaxReceive is the redrive policy's maximum receive count: after
	// that many receives a message that becomes visible again is moved to
	// the dead-letter queue. 0 means no redrive.
	MaxReceive int
}

// NewQueue returns a fresh, empty queue configured by cfg and its
// dead-letter queue (which may be nil when cfg.MaxReceive is 0). It should
// close both with t.Cleanup; the suite never calls Close.
type NewQueue func(t *testing.T, cfg Config) (q queue.Queue, dlq queue.Queue)

// Run runs the conformance suite as parallel subtests of t.
func Run(t *testing.T, newQueue func(t *testing.T, cfg Config) (q queue.Queue, dlq queue.Queue)) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, NewQueue)
	}{
		{"SendReceiveDelete", testSendReceiveDelete},
		{"BinaryBody", testBinaryBody},
		{"VisibilityTimeout", testVisibilityTimeout},
		{"ReceiveVisibilityOverride", testReceiveVisibilityOverride},
		{"StaleReceiptHandle", testStaleReceiptHandle},
		{"ChangeVisibility", testChangeVisibility},
		{"DelayedSend", testDelayedSend},
		{"LongPoll", testLongPoll},
		{"Batch", testBatch},
		{"DeadLetterQueue", testDeadLetterQueue},
		{"Stats", testStats},
		{"ConcurrentConsumers", testConcurrentConsumers},
		{"InvalidArguments", testInvalidArguments},
		{"TraceContext", testTraceContext},
		{"OldestAge", testOldestAge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newQueue)
		})
	}
}
