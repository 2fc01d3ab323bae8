package sqsqueue

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// URL schemes this driver registers with package queue.
const (
	Scheme      = "sqs"       // sqs://name
	SchemeHTTPS = "sqs+https" // sqs+https://host/account/name
	SchemeHTTP  = "sqs+http"  // sqs+http://host:port/account/name
	SchemeURL   = "https"     // https://sqs.<region>.amazonaws.com/account/name
)

func init() {
	for _, s := range []string{Scheme, SchemeHTTPS, SchemeHTTP, SchemeURL} {
		queue.Register(s, openURL)
	}
}

// openURL is the queue.Opener of every scheme.
func openURL(ctx context.Context, u *url.URL) (queue.Queue, error) {
	loc, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqsqueue: load AWS config: %w", err)
	}
	return Open(ctx, cfg, loc, opts)
}

var _ queue.Queue = (*Queue)(nil)

// DefaultMaxWait is the longest single ReceiveMessage wait by default: the
// SQS maximum.
const DefaultMaxWait = queue.MaxWaitTime

// EncodedPrefix starts the SQS body of a message whose body is sent
// base64-encoded; see the package documentation.
const EncodedPrefix = "imagepipe:base64:"

// Options configure a Queue.
type Options struct {
	// Visibility is the visibility timeout of receives that give none, in
	// whole seconds up to 12 hours; 0 leaves it to the queue's
	// VisibilityTimeout attribute.
	Visibility time.Duration
	// MaxWait caps the WaitTimeSeconds of one ReceiveMessage call, in whole
	// seconds from 1s to 20s; a Receive with a longer WaitTime makes several
	// calls. 0 means DefaultMaxWait.
	MaxWait time.Duration
}

// withDefaults fills zero fields and validates the result.
func (o Options) withDefaults() (Options, error) {
	if o.MaxWait == 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Visibility < 0 || o.Visibility > queue.MaxVisibilityTimeout || o.Visibility%time.Second != 0 {
		return o, fmt.Errorf("sqsqueue: visibility %v must be whole seconds in [0, %v]", o.Visibility, queue.MaxVisibilityTimeout)
	}
	if o.MaxWait < time.Second || o.MaxWait > queue.MaxWaitTime || o.MaxWait%time.Second != 0 {
		return o, fmt.Errorf("sqsqueue: wait %v must be whole seconds in [1s, %v]", o.MaxWait, queue.MaxWaitTime)
	}
	return o, nil
}

// Queue is a queue.Queue on one SQS queue. It is safe for concurrent use.
type Queue struct {
	client     *sqs.Client
	url        string
	opts       Options
	maxReceive int   // of the redrive policy when opened; 0 without
	maxSize    int64 // MaximumMessageSize when opened; 0 if unknown

	done   context.Context // cancelled by Close: ends pending calls
	cancel context.CancelFunc
	closed atomic.Bool
}

// New opens the SQS queue at queueURL (http or https, as GetQueueUrl or
// CreateQueue return it) with cfg, adjusted by the URL as the package
// documentation describes. It reads the queue's attributes, so it fails
// with ErrQueueDoesNotExist for a missing queue, and refuses queues the
// driver cannot serve faithfully (FIFO, delay or receive-wait defaults).
func New(ctx context.Context, cfg aws.Config, queueURL string, opts Options) (*Queue, error) {
	loc, err := parseQueueURL(queueURL)
	if err != nil {
		return nil, err
	}
	return Open(ctx, cfg, loc, opts)
}

// Open opens the queue loc names with cfg: it looks the queue up by name
// (GetQueueUrl) or uses its URL, then proceeds as New.
func Open(ctx context.Context, cfg aws.Config, loc Location, opts Options) (*Queue, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	client := newClient(cfg, loc)
	queueURL := loc.QueueURL
	if queueURL == "" {
		if queueURL, err = lookup(ctx, client, loc.Name); err != nil {
			return nil, err
		}
	}
	attrs, err := readAttributes(ctx, client, queueURL)
	if err != nil {
		return nil, err
	}
	if err := attrs.suitable(); err != nil {
		return nil, fmt.Errorf("sqsqueue: queue %s: %w", queueURL, err)
	}
	done, cancel := context.WithCancel(context.Background())
	return &Queue{
		client: client, url: queueURL, opts: opts,
		maxReceive: attrs.maxReceive, maxSize: attrs.maxSize,
		done: done, cancel: cancel,
	}, nil
}

// URL returns the queue URL requests carry.
func (q *Queue) URL() string { return q.url }

// Options returns the queue's effective options.
func (q *Queue) Options() Options { return q.opts }

// MaxReceive returns the maxReceiveCount of the queue's redrive policy as
// read when the queue was opened, or 0 if it had none. A processor checks it
// against its max attempts (it must be max attempts + 1).
func (q *Queue) MaxReceive() int { return q.maxReceive }

// Close implements queue.Queue: pending calls end with ErrClosed, later
// ones fail with it. A receive cut short this way may leave messages the
// server already handed out invisible until their visibility timeout.
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return fmt.Errorf("sqsqueue: close: %w", queue.ErrClosed)
	}
	q.cancel()
	return nil
}

// begin starts an operation: it fails after Close, and otherwise returns a
// context that Close also cancels, and its release function.
func (q *Queue) begin(ctx context.Context, op string) (context.Context, context.CancelFunc, error) {
	if q.closed.Load() {
		return nil, nil, fmt.Errorf("sqsqueue: %s: %w", op, queue.ErrClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(q.done, cancel)
	return ctx, func() { stop(); cancel() }, nil
}
