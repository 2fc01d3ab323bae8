package queue

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Drivers wrap them with %w so callers test with errors.Is.
var (
	// ErrInvalidReceipt reports a malformed receipt handle, or one that is
	// no longer the message's current handle.
	ErrInvalidReceipt = errors.New("queue: invalid receipt handle")
	// ErrInvalidArgument reports options or a body outside the limits
	// every driver supports (see the Max* constants).
	ErrInvalidArgument = errors.New("queue: invalid argument")
	// ErrClosed reports use of a closed queue.
	ErrClosed = errors.New("queue: closed")
	// ErrUnknownScheme reports that Open found no driver for a URL scheme.
	ErrUnknownScheme = errors.New("queue: unknown scheme")
)

// Message is a received message.
type Message struct {
	// ID is assigned by Send and kept for the message's lifetime,
	// including a move to a dead-letter queue.
	ID string
	// Body is the message content.
	Body []byte
	// Attributes are the string attributes given to Send.
	Attributes map[string]string
	// ReceiptHandle identifies this receive; pass it to Delete and
	// ChangeVisibility. Each receive yields a different handle.
	ReceiptHandle string
	// ReceiveCount is how many times the message has been received,
	// including this time.
	ReceiveCount int
	// SentAt is when the message was sent.
	SentAt time.Time
}

// SendOptions are the optional parameters of Send.
type SendOptions struct {
	// Delay keeps the message invisible for this long after sending
	// (at most MaxDelay).
	Delay time.Duration
	// Attributes are string metadata carried with the message (at most
	// MaxAttributes; see ValidateSend for the rules).
	Attributes map[string]string
}

// ReceiveOptions are the optional parameters of Receive.
type ReceiveOptions struct {
	// MaxMessages is the most messages to return, 1 to MaxBatch; 0 means 1.
	MaxMessages int
	// WaitTime is how long to wait for a message (at most MaxWaitTime);
	// 0 returns at once.
	WaitTime time.Duration
	// VisibilityTimeout overrides the queue's default for the received
	// messages (at most MaxVisibilityTimeout); 0 means the default.
	VisibilityTimeout time.Duration
}

// Stats are approximate message counts, like SQS's
// ApproximateNumberOfMessages, ...NotVisible and ...Delayed.
type Stats struct {
	// Visible counts messages available for receipt.
	Visible int64
	// InFlight counts received messages within their visibility timeout.
	InFlight int64
	// Delayed counts messages sent with a delay that has not yet passed.
	Delayed int64
}

// Queue is a message queue with SQS semantics; see the package
// documentation for the contract. Implementations are safe for concurrent
// use.
type Queue interface {
	// Send enqueues body and returns the new message's ID.
	Send(ctx context.Context, body []byte, opts SendOptions) (id string, err error)
	// Receive returns up to opts.MaxMessages messages, waiting up to
	// opts.WaitTime for the first one. It returns as soon as at least one
	// message is available, and an empty slice (not an error) when the
	// wait time passes without one.
	Receive(ctx context.Context, opts ReceiveOptions) ([]Message, error)
	// Delete removes the message received with receiptHandle.
	Delete(ctx context.Context, receiptHandle string) error
	// ChangeVisibility makes the message received with receiptHandle
	// invisible for timeout from now; 0 makes it visible at once.
	ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error
	// Stats returns approximate message counts.
	Stats(ctx context.Context) (Stats, error)
	// Close releases the queue's resources and ends pending receives.
	Close() error
}

// OldestAger is implemented by queues that can tell the age of their
// oldest message (the embedded queue). SQS cannot through its API: its
// ApproximateAgeOfOldestMessage is a CloudWatch metric, not a queue
// attribute.
type OldestAger interface {
	// OldestAge is how long ago the oldest message still in the queue
	// (visible, in flight or delayed) was sent; 0 for an empty queue.
	OldestAge(ctx context.Context) (time.Duration, error)
}

// DeadLetterer is implemented by queues that have a dead-letter queue.
type DeadLetterer interface {
	// DeadLetterQueue opens the queue's dead-letter queue (a queue without
	// redrive of its own); the caller closes it. It returns
	// ErrNoDeadLetterQueue when the queue has none.
	DeadLetterQueue(ctx context.Context) (Queue, error)
}

// ErrNoDeadLetterQueue reports a queue without a dead-letter queue.
var ErrNoDeadLetterQueue = errors.New("queue: no dead-letter queue")
