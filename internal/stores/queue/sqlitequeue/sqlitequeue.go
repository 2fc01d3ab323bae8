// Package sqlitequeue is a queue.Queue stored in an SQLite database file,
// using the pure-Go modernc.org/sqlite driver. Several queues (a queue and
// its dead-letter queue, say) share one file and one table, told apart by
// name, and several processes on one machine may use the file at once.
//
// It registers the "sqlite" URL scheme:
//
//	sqlite:///abs/path/queue.db?name=jobs&visibility=60s&max_receive=3&dlq=jobs-dlq
//	sqlite://./rel/queue.db     path relative to the working directory
//	sqlite:rel/queue.db         same (opaque form)
//
// Parameters, all optional: name (default "jobs"), visibility (default
// timeout, a Go duration or whole seconds; default 30s), max_receive
// (receives before a message is moved to the dead-letter queue; default 3,
// 0 disables redrive), dlq (dead-letter queue name; default "<name>-dlq")
// and poll (cross-process poll interval; default 100ms). Queue names follow
// SQS rules: 1 to 80 characters of A-Z a-z 0-9 - _. Open a dead-letter
// queue by its name with max_receive=0.
//
// # Implementation
//
// The database runs in WAL mode with a busy timeout and synchronous=FULL. A
// receive first moves due messages that have reached max_receive to the
// dead-letter queue, then claims up to MaxMessages due messages with a
// single UPDATE ... RETURNING statement, which SQLite executes under its
// write lock, so two consumers can never claim the same message within one
// visibility window. Each claim stores a fresh random token; the receipt
// handle is "<message id>:<token>", so a stale handle matches no row. Long
// polls wake at once when the same process sends to the queue (or moves a
// message to it) and otherwise poll the file every poll interval. Queue
// options are per handle, not stored in the file: every process must open a
// queue with the same options.
package sqlitequeue

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// Scheme is the URL scheme this driver registers with package queue.
const Scheme = "sqlite"

func init() {
	queue.Register(Scheme, func(_ context.Context, u *url.URL) (queue.Queue, error) {
		path, opts, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(path, opts)
	})
}

var _ queue.Queue = (*Queue)(nil)

// Defaults applied by DefaultOptions, ParseURL and (for zero fields) New.
const (
	DefaultName         = "jobs"
	DefaultVisibility   = 30 * time.Second
	DefaultMaxReceive   = 3
	DefaultPollInterval = 100 * time.Millisecond
	// DLQSuffix is appended to the queue name for the default DLQ name.
	DLQSuffix = "-dlq"
)

// Options configure a Queue.
type Options struct {
	// Name selects the queue within the file; empty means DefaultName.
	Name string
	// Visibility is the default visibility timeout; 0 means
	// DefaultVisibility.
	Visibility time.Duration
	// MaxReceive is how many receives a message gets before the next one
	// moves it to the DLQ; 0 disables redrive (New does not default it,
	// use DefaultOptions).
	MaxReceive int
	// DLQ names the dead-letter queue in the same file; empty means
	// Name+DLQSuffix. Ignored when MaxReceive is 0.
	DLQ string
	// PollInterval is how often a waiting Receive checks the file for
	// messages from other processes; 0 means DefaultPollInterval.
	PollInterval time.Duration
}

// DefaultOptions returns the options a URL without parameters selects.
func DefaultOptions() Options {
	return Options{
		Name:         DefaultName,
		Visibility:   DefaultVisibility,
		MaxReceive:   DefaultMaxReceive,
		DLQ:          DefaultName + DLQSuffix,
		PollInterval: DefaultPollInterval,
	}
}

// withDefaults fills zero fields and validates the result.
func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Visibility == 0 {
		o.Visibility = DefaultVisibility
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxReceive == 0 {
		o.DLQ = ""
	} else if o.DLQ == "" {
		o.DLQ = o.Name + DLQSuffix
	}
	return o, o.validate()
}

func (o Options) validate() error {
	if err := validateName("name", o.Name); err != nil {
		return err
	}
	if o.Visibility <= 0 || o.Visibility > queue.MaxVisibilityTimeout {
		return fmt.Errorf("sqlitequeue: visibility %v outside (0, %v]", o.Visibility, queue.MaxVisibilityTimeout)
	}
	if o.MaxReceive < 0 || o.MaxReceive > maxMaxReceive {
		return fmt.Errorf("sqlitequeue: max_receive %d outside [0, %d]", o.MaxReceive, maxMaxReceive)
	}
	if o.PollInterval < time.Millisecond || o.PollInterval > maxPollInterval {
		return fmt.Errorf("sqlitequeue: poll interval %v outside [1ms, %v]", o.PollInterval, maxPollInterval)
	}
	if o.MaxReceive > 0 {
		if err := validateName("dlq", o.DLQ); err != nil {
			return err
		}
		if o.DLQ == o.Name {
			return fmt.Errorf("sqlitequeue: dlq %q must differ from the queue name", o.DLQ)
		}
	}
	return nil
}

const (
	maxMaxReceive   = 1000 // the SQS limit
	maxPollInterval = 10 * time.Second
	maxNameLength   = 80
)

// validateName applies the SQS queue name rules.
func validateName(what, name string) error {
	if name == "" || len(name) > maxNameLength {
		return fmt.Errorf("sqlitequeue: %s %q must be 1 to %d characters", what, name, maxNameLength)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("sqlitequeue: %s %q may only contain A-Z a-z 0-9 - _", what, name)
		}
	}
	return nil
}

// Queue is a queue.Queue in an SQLite file. It is safe for concurrent use.
type Queue struct {
	db     *sql.DB
	opts   Options
	wake   *notifier // receivers of this queue in this process
	dlq    *notifier // receivers of the DLQ in this process; nil without redrive
	closed chan struct{}
	once   sync.Once
}

// New opens (creating if needed) the database file at path and returns the
// queue opts select in it. Zero option fields take their defaults, except
// MaxReceive (0 disables redrive).
func New(path string, opts Options) (*Queue, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, fmt.Errorf("sqlitequeue: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitequeue: resolve %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("sqlitequeue: %w", err)
	}
	db, err := openDB(abs)
	if err != nil {
		return nil, err
	}
	q := &Queue{db: db, opts: opts, wake: notifiers.acquire(abs, opts.Name), closed: make(chan struct{})}
	if opts.MaxReceive > 0 {
		q.dlq = notifiers.acquire(abs, opts.DLQ)
	}
	return q, nil
}

// Options returns the queue's effective options.
func (q *Queue) Options() Options { return q.opts }

// Close implements queue.Queue. Pending receives return ErrClosed.
func (q *Queue) Close() error {
	err := fmt.Errorf("sqlitequeue: close: %w", queue.ErrClosed)
	q.once.Do(func() {
		close(q.closed)
		notifiers.release(q.wake)
		if q.dlq != nil {
			notifiers.release(q.dlq)
		}
		err = q.db.Close()
	})
	return err
}

// checkOpen returns an error wrapping ErrClosed after Close.
func (q *Queue) checkOpen(op string) error {
	select {
	case <-q.closed:
		return fmt.Errorf("sqlitequeue: %s: %w", op, queue.ErrClosed)
	default:
		return nil
	}
}

// MaxReceive is the redrive policy's maximum receive count (0: no redrive).
func (q *Queue) MaxReceive() int { return q.opts.MaxReceive }
