package app

import (
	"context"
	"fmt"

	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	_ "github.com/imagepipe/imagepipe/internal/stores/blob/fsblob" // file://
	_ "github.com/imagepipe/imagepipe/internal/stores/blob/s3blob" // s3://
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	_ "github.com/imagepipe/imagepipe/internal/stores/deliveries/dynamodeliveries" // dynamodb://
	_ "github.com/imagepipe/imagepipe/internal/stores/deliveries/sqlitedeliveries" // sqlite://
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	_ "github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue" // sqlite://
	_ "github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"    // sqs://
	"github.com/imagepipe/imagepipe/internal/stores/records"
	_ "github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords" // dynamodb://
	_ "github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords" // sqlite://
	"github.com/imagepipe/imagepipe/services/webhooks"
)

// The shared modules: presets and the stores, each opened by URL through
// its driver registry and closed when the process ends.

// open opens one store and schedules its Close.
func open[S interface{ Close() error }](ctx context.Context, a *App, what, url string, opener func(context.Context, string) (S, error)) (S, error) {
	s, err := opener(ctx, url)
	if err != nil {
		return s, fmt.Errorf("%s: %w", what, err)
	}
	a.closers = append(a.closers, s.Close)
	return s, nil
}

func (a *App) initPresets(context.Context) (err error) {
	a.presets = spec.Builtin()
	if a.cfg.PresetsFile == "" {
		return nil
	}
	if a.presets, err = spec.LoadPresets(a.cfg.PresetsFile); err != nil {
		return fmt.Errorf("presets: %w", err)
	}
	return nil
}

func (a *App) initOriginals(ctx context.Context) (err error) {
	a.originals, err = open(ctx, a, "originals store", a.cfg.OriginalsURL, blob.Open)
	return err
}

func (a *App) initVariants(ctx context.Context) (err error) {
	if a.variants, err = open(ctx, a, "variants store", a.cfg.VariantsURL, blob.Open); err != nil {
		return err
	}
	if a.wrapVariants != nil {
		a.variants = a.wrapVariants(a.variants)
	}
	return nil
}

func (a *App) initJobQueue(ctx context.Context) (err error) {
	if a.queue, err = open(ctx, a, "queue", a.cfg.QueueURL, queue.Open); err != nil {
		return err
	}
	return a.checkRedrive()
}

// checkRedrive refuses a queue whose max receive count is not the
// processor's max attempts + 1: with fewer, the queue dead-letters a job
// before its last attempt can mark the image FAILED; with more, a given-up
// job is received again instead of reaching the dead-letter queue.
func (a *App) checkRedrive() error {
	q, ok := a.queue.(interface{ MaxReceive() int })
	if !ok || !a.modules[Processor] {
		return nil
	}
	if got, want := q.MaxReceive(), a.cfg.Processor.MaxAttempts+1; got != want {
		return fmt.Errorf("queue %s: max_receive=%d, but processor.max-attempts=%d needs max_receive=%d",
			redact(a.cfg.QueueURL), got, a.cfg.Processor.MaxAttempts, want)
	}
	return nil
}

func (a *App) initRecords(ctx context.Context) (err error) {
	a.records, err = open(ctx, a, "status store", a.cfg.StatusURL, records.Open)
	return err
}

// initEvents opens the events queue when there is one (always beside an
// embedded job queue; IMAGEPIPE_EVENTS otherwise); without it the
// processor announces nothing and admin replays nothing.
func (a *App) initEvents(ctx context.Context) (err error) {
	if !a.cfg.webhooksOn() {
		return nil
	}
	a.events, err = open(ctx, a, "events queue", a.cfg.EventsURL, queue.Open)
	return err
}

// initDeliveries opens the webhook delivery log (in the status store) when
// webhooks are on.
func (a *App) initDeliveries(ctx context.Context) (err error) {
	if !a.cfg.webhooksOn() {
		return nil
	}
	a.deliveries, err = open(ctx, a, "webhook delivery log", a.cfg.StatusURL, deliveries.Open)
	return err
}

// initSecrets builds the tenants' webhook signing secrets (the default
// tenant's fall back to IMAGEPIPE_WEBHOOKS_SECRETS).
func (a *App) initSecrets(context.Context) error {
	a.secrets = webhooks.NewSecrets(a.tenants, a.cfg.Webhooks.Secrets)
	return nil
}
