package app

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// Init creates every store the configuration names, idempotently: S3
// buckets, the SQS queue with its dead-letter queue and a redrive policy of
// max attempts + 1 receives, the DynamoDB tables with their indexes (the
// status table, the tenants table beside it and, with webhooks, the delivery
// log); embedded stores are created by opening them. It reports each store
// on out.
func Init(ctx context.Context, cfg Config, out io.Writer) error {
	if err := cfg.resolve(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	for _, s := range []struct{ name, url string }{{"originals", cfg.OriginalsURL}, {"variants", cfg.VariantsURL}} {
		if err := initBlob(ctx, s.name, s.url, out); err != nil {
			return err
		}
	}
	if err := initQueue(ctx, cfg, out); err != nil {
		return err
	}
	rs, err := records.Open(ctx, cfg.StatusURL)
	if err != nil {
		return fmt.Errorf("status store: %w", err)
	}
	defer rs.Close()
	if t, ok := rs.(interface{ EnsureTable(context.Context) error }); ok {
		if err := t.EnsureTable(ctx); err != nil {
			return fmt.Errorf("status store: %w", err)
		}
	}
	fmt.Fprintf(out, "status     %s ready\n", cfg.StatusURL)
	ts, err := tenants.Open(ctx, cfg.StatusURL)
	if err != nil {
		return fmt.Errorf("tenants store: %w", err)
	}
	defer ts.Close()
	if t, ok := ts.(interface{ EnsureTable(context.Context) error }); ok {
		if err := t.EnsureTable(ctx); err != nil {
			return fmt.Errorf("tenants store: %w", err)
		}
	}
	fmt.Fprintf(out, "tenants    API keys and tenant settings beside %s ready\n", cfg.StatusURL)
	if cfg.EventsURL != "" {
		if err := initEvents(ctx, cfg, out); err != nil {
			return err
		}
		ds, err := deliveries.Open(ctx, cfg.StatusURL)
		if err != nil {
			return fmt.Errorf("webhook delivery log: %w", err)
		}
		defer ds.Close()
		if t, ok := ds.(interface{ EnsureTable(context.Context) error }); ok {
			if err := t.EnsureTable(ctx); err != nil {
				return fmt.Errorf("webhook delivery log: %w", err)
			}
		}
		fmt.Fprintf(out, "webhooks   delivery log beside %s ready\n", cfg.StatusURL)
	}
	return nil
}

// initEvents creates the webhooks' events queue: an SQS queue without a
// dead-letter queue (each delivery counts its own attempts), or an embedded
// one by opening it.
func initEvents(ctx context.Context, cfg Config, out io.Writer) error {
	u, err := url.Parse(cfg.EventsURL)
	if err != nil {
		return fmt.Errorf("events queue: %w", err)
	}
	if isSQS(u.Scheme) {
		loc, _, err := sqsqueue.ParseURL(u)
		if err != nil {
			return fmt.Errorf("events queue: %w", err)
		}
		awsCfg, err := awsConfig(ctx, loc.Region)
		if err != nil {
			return fmt.Errorf("events queue: %w", err)
		}
		qURL, _, err := sqsqueue.Ensure(ctx, awsCfg, loc.Name, 0, eventsVisibility)
		if err != nil {
			return fmt.Errorf("events queue: %w", err)
		}
		fmt.Fprintf(out, "events     %s ready\n", qURL)
		return nil
	}
	q, err := queue.Open(ctx, cfg.EventsURL)
	if err != nil {
		return fmt.Errorf("events queue: %w", err)
	}
	defer q.Close()
	fmt.Fprintf(out, "events     %s ready\n", redact(cfg.EventsURL))
	return nil
}

// eventsVisibility is the events queue's default visibility timeout; the
// dispatcher sets its own on every receive.
const eventsVisibility = time.Minute

func isSQS(scheme string) bool {
	switch scheme {
	case sqsqueue.Scheme, sqsqueue.SchemeHTTP, sqsqueue.SchemeHTTPS, sqsqueue.SchemeURL:
		return true
	}
	return false
}

func awsConfig(ctx context.Context, region string) (aws.Config, error) {
	c, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return c, fmt.Errorf("load AWS config: %w", err)
	}
	if region != "" {
		c.Region = region
	}
	return c, nil
}

func initBlob(ctx context.Context, name, rawURL string, out io.Writer) error {
	s, err := blob.Open(ctx, rawURL)
	if err != nil {
		return fmt.Errorf("%s store: %w", name, err)
	}
	defer s.Close()
	if b, ok := s.(interface{ EnsureBucket(context.Context) error }); ok {
		if err := b.EnsureBucket(ctx); err != nil {
			return fmt.Errorf("%s store: %w", name, err)
		}
	}
	fmt.Fprintf(out, "%-10s %s ready\n", name, rawURL)
	return nil
}

// initQueue creates an SQS queue and its DLQ; other queues are created by
// opening them.
func initQueue(ctx context.Context, cfg Config, out io.Writer) error {
	u, err := url.Parse(cfg.QueueURL)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if isSQS(u.Scheme) {
		loc, _, err := sqsqueue.ParseURL(u)
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		awsCfg, err := awsConfig(ctx, loc.Region)
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		qURL, dlqURL, err := sqsqueue.Ensure(ctx, awsCfg, loc.Name, cfg.Processor.MaxAttempts+1, cfg.Processor.Visibility)
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		fmt.Fprintf(out, "queue      %s ready (dead-letter queue %s, max receive %d)\n", qURL, dlqURL, cfg.Processor.MaxAttempts+1)
		return nil
	}
	q, err := queue.Open(ctx, cfg.QueueURL)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	defer q.Close()
	fmt.Fprintf(out, "queue      %s ready\n", redact(cfg.QueueURL))
	return nil
}
