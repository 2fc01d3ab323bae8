package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/trace"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// CacheControl of every variant: its URL never changes meaning.
const CacheControl = "public, max-age=31536000, immutable"

// Deps are what a processor works with.
type Deps struct {
	// Presets validate specs and resolve their watermarks.
	Presets   *spec.Presets
	Originals blob.Store
	Variants  blob.Store
	Queue     queue.Queue
	// Events is the webhooks' events queue: every image that ends READY or
	// FAILED is announced there. Nil when webhooks are off.
	Events  queue.Queue
	Records records.Store
	Log     *slog.Logger
}

// Processor pulls jobs and turns originals into variants.
type Processor struct {
	cfg Config
	Deps
}

// New returns a processor; Run starts its workers.
func New(cfg Config, d Deps) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg, Deps: d}, nil
}

// Run runs cfg.Workers workers until ctx ends. Workers then stop
// receiving; jobs in flight get cfg.ShutdownGrace to finish before they are
// cancelled and left to the queue, which redelivers them after their
// visibility timeout.
func (p *Processor) Run(ctx context.Context) error {
	jobs, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	go func() {
		<-ctx.Done()
		select {
		case <-jobs.Done():
		case <-time.After(p.cfg.ShutdownGrace):
			cancelJobs()
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < p.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(ctx, jobs)
		}()
	}
	wg.Wait()
	return nil
}

func (p *Processor) work(ctx, jobs context.Context) {
	for ctx.Err() == nil {
		msgs, err := p.Queue.Receive(ctx, queue.ReceiveOptions{MaxMessages: 1, WaitTime: p.cfg.PollWait, VisibilityTimeout: p.cfg.Visibility})
		if err != nil {
			if ctx.Err() == nil {
				p.Log.Error("receive failed", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for _, m := range msgs {
			p.Handle(jobs, m)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// maxBackoff caps the delay between attempts.
const maxBackoff = 15 * time.Minute

func (p *Processor) backoff(receiveCount int) time.Duration {
	d := p.cfg.RetryBackoff
	for i := 1; i < receiveCount && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Handle runs one delivery of a job. Every outcome is decided here: delete
// the message (done, permanently failed, duplicate), delay it (transient
// failure: a later delivery retries), or release it to the dead-letter
// queue (attempts used up). The queue's max receive count is MaxAttempts+1:
// the extra delivery is the safety net that marks an image FAILED when its
// last attempt was cut short by a crash or shutdown.
func (p *Processor) Handle(ctx context.Context, m queue.Message) {
	job, err := jobs.Decode(m.Body)
	if err != nil {
		p.Log.Error("dropping undecodable job", "message", m.ID, "err", err)
		p.ack(ctx, m)
		return
	}
	log := p.Log.With("image", job.ImageID, "attempt", m.ReceiveCount, "trace_id", trace.ID(m.Attributes[trace.Header]))
	ctx = trace.With(ctx, m.Attributes[trace.Header])
	if m.ReceiveCount > p.cfg.MaxAttempts {
		if err := p.fail(ctx, job.ImageID, failure.ProcessingFailed, fmt.Sprintf("processing failed after %d attempts", p.cfg.MaxAttempts)); err != nil {
			log.Error("could not mark image failed; job will be redelivered", "err", err)
			return
		}
		log.Warn("attempts used up; job goes to the dead-letter queue")
		p.announce(ctx, log, job.ImageID)
		p.release(ctx, m)
		return
	}
	rec, err := records.Mutate(ctx, p.Records, job.ImageID, func(img *pb.Image) error {
		if !records.CanMove(img.GetState(), pb.ImageState_IMAGE_STATE_PROCESSING) {
			return records.ErrNoChange
		}
		img.State = pb.ImageState_IMAGE_STATE_PROCESSING
		img.Attempts++
		return nil
	})
	switch {
	case errors.Is(err, records.ErrNoChange):
		log.Info("duplicate delivery of a finished image", "state", rec.Image.GetState())
		// Announce again: the delivery that finished it may have died before
		// announcing. Webhook deliveries are keyed by event, so nothing is
		// sent twice.
		if p.announce(ctx, log, job.ImageID) {
			p.ack(ctx, m)
		}
		return
	case errors.Is(err, records.ErrNotFound):
		log.Error("job for an unknown image; dropping it")
		p.ack(ctx, m)
		return
	case err != nil:
		log.Error("status store unavailable; job will be redelivered", "err", err)
		return
	}

	stopHeartbeat := p.heartbeat(ctx, m.ReceiptHandle)
	jobCtx, cancel := context.WithTimeout(ctx, p.cfg.JobTimeout)
	err = p.process(jobCtx, rec.Image)
	cancel()
	stopHeartbeat()
	if ctx.Err() != nil {
		return // cut short by shutdown: the job is redelivered
	}
	var perm *imaging.Error
	switch {
	case err == nil:
		log.Info("image ready")
		if p.announce(ctx, log, job.ImageID) {
			p.ack(ctx, m)
		}
	case errors.As(err, &perm):
		log.Info("image failed permanently", "code", perm.Code, "err", err)
		if ferr := p.fail(ctx, job.ImageID, perm.Code, perm.Error()); ferr != nil {
			log.Error("could not mark image failed; job will be redelivered", "err", ferr)
			p.delay(ctx, m, p.backoff(m.ReceiveCount))
			return
		}
		if p.announce(ctx, log, job.ImageID) {
			p.ack(ctx, m)
		}
	case m.ReceiveCount >= p.cfg.MaxAttempts:
		log.Error("last attempt failed; image failed, job goes to the dead-letter queue", "err", err)
		if ferr := p.fail(ctx, job.ImageID, failure.ProcessingFailed, fmt.Sprintf("processing failed after %d attempts", m.ReceiveCount)); ferr != nil {
			log.Error("could not mark image failed; the next delivery will", "err", ferr)
		} else {
			p.announce(ctx, log, job.ImageID)
		}
		p.release(ctx, m)
	default:
		delay := p.backoff(m.ReceiveCount)
		log.Warn("attempt failed; retrying", "in", delay, "err", err)
		_, _ = records.Mutate(ctx, p.Records, job.ImageID, func(img *pb.Image) error {
			if records.Terminal(img.GetState()) {
				return records.ErrNoChange
			}
			img.Error = &pb.ImageError{Code: failure.Retrying, Message: fmt.Sprintf("attempt %d failed; retrying in %s", m.ReceiveCount, delay)}
			return nil
		})
		p.delay(ctx, m, delay)
	}
}

// announce emits the image's terminal state to the webhooks' events queue.
// It reports false when that failed: the caller then leaves the job to be
// redelivered, and the redelivery, a duplicate, announces again.
func (p *Processor) announce(ctx context.Context, log *slog.Logger, id string) bool {
	if p.Events == nil {
		return true
	}
	rec, err := p.Records.Get(ctx, id)
	if err == nil {
		err = events.Emit(ctx, p.Events, rec.Image)
	}
	if err != nil {
		log.Error("could not announce the image's end to webhooks; the job will be redelivered", "err", err)
		return false
	}
	return true
}

func (p *Processor) ack(ctx context.Context, m queue.Message) {
	if err := p.Queue.Delete(ctx, m.ReceiptHandle); err != nil {
		p.Log.Warn("could not delete a finished job; it will be redelivered and ignored", "message", m.ID, "err", err)
	}
}

// delay hides the message for d: a delayed redelivery.
func (p *Processor) delay(ctx context.Context, m queue.Message, d time.Duration) {
	if err := p.Queue.ChangeVisibility(ctx, m.ReceiptHandle, d); err != nil {
		p.Log.Warn("could not delay the retry; it comes after the visibility timeout", "message", m.ID, "err", err)
	}
}

// release makes the message due at once; its next receive exceeds the
// queue's max receive count, so the queue moves it to the dead-letter queue.
func (p *Processor) release(ctx context.Context, m queue.Message) { p.delay(ctx, m, 0) }

// heartbeat keeps a long job hidden from other workers until the returned
// stop is called; stop waits for it to end, so no extension can race the
// final Delete or ChangeVisibility.
func (p *Processor) heartbeat(ctx context.Context, handle string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(p.cfg.Visibility / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := p.Queue.ChangeVisibility(ctx, handle, p.cfg.Visibility); err != nil && ctx.Err() == nil {
					p.Log.Warn("visibility heartbeat failed", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// fail marks an image FAILED unless it already reached a terminal state,
// and removes any variants an attempt stored, so nothing of a failed image
// is served.
func (p *Processor) fail(ctx context.Context, id, code, msg string) error {
	rec, err := records.Mutate(ctx, p.Records, id, func(img *pb.Image) error {
		if !records.CanMove(img.GetState(), pb.ImageState_IMAGE_STATE_FAILED) {
			return records.ErrNoChange
		}
		img.State = pb.ImageState_IMAGE_STATE_FAILED
		img.Error = &pb.ImageError{Code: code, Message: msg}
		return nil
	})
	switch {
	case errors.Is(err, records.ErrNoChange), errors.Is(err, records.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	p.deleteVariants(ctx, rec.Image)
	return nil
}

// deleteVariants removes every variant key of an image's spec.
func (p *Processor) deleteVariants(ctx context.Context, img *pb.Image) {
	for _, v := range img.GetSpec().GetVariants() {
		if err := p.Variants.Delete(ctx, img.GetId()+"/"+v.GetName()); err != nil {
			p.Log.Warn("could not delete a failed image's variant", "image", img.GetId(), "variant", v.GetName(), "err", err)
		}
	}
}

// process makes and stores the variants and marks the image READY.
func (p *Processor) process(ctx context.Context, img *pb.Image) error {
	src, err := p.readOriginal(ctx, img)
	if err != nil {
		return err
	}
	upload, err := p.admitUpload(img, src)
	if err != nil {
		return err
	}
	res, err := Render(ctx, p.Presets, img.GetSpec(), src, p.cfg.Limits)
	if err != nil {
		return err
	}
	if err := p.storeVariants(ctx, img.GetId(), res.Variants); err != nil {
		return err
	}
	infos := make([]*pb.VariantInfo, 0, len(res.Variants))
	for _, v := range res.Variants {
		key := img.GetId() + "/" + v.Name
		infos = append(infos, &pb.VariantInfo{
			Name:        v.Name,
			Url:         p.cfg.PublicURL + "/a/" + key,
			Format:      spec.FormatOf(v.Format),
			ContentType: v.ContentType,
			Width:       int32(v.Width),
			Height:      int32(v.Height),
			Bytes:       int64(len(v.Data)),
			Frames:      int32(v.Frames),
			Quality:     int32(v.Quality),
		})
	}
	cur, err := records.Mutate(ctx, p.Records, img.GetId(), func(im *pb.Image) error {
		if records.Terminal(im.GetState()) {
			return records.ErrNoChange // another delivery finished first; same keys, same variants
		}
		im.State = pb.ImageState_IMAGE_STATE_READY
		im.Error = nil
		im.Variants = infos
		if im.Original == nil {
			im.Original = &pb.OriginalInfo{}
		}
		if upload != nil {
			im.Original.Bytes, im.Original.Sha256, im.Original.Format = upload.Bytes, upload.Sha256, upload.Format
		}
		im.Original.Width = int32(res.Source.Width)
		im.Original.Height = int32(res.Source.Height)
		im.Original.Frames = int32(res.Source.Frames)
		im.Original.Blurhash = res.Extras.BlurHash
		im.Original.DominantColor = res.Extras.DominantColor
		im.Original.Phash = res.Extras.PHashHex()
		return nil
	})
	if errors.Is(err, records.ErrNoChange) {
		if cur.Image.GetState() == pb.ImageState_IMAGE_STATE_FAILED {
			p.deleteVariants(ctx, cur.Image) // it failed meanwhile: serve nothing
		}
		return nil
	}
	return err
}

func (p *Processor) readOriginal(ctx context.Context, img *pb.Image) ([]byte, error) {
	rc, attrs, err := p.Originals.Get(ctx, jobs.OriginalKey(img))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, &imaging.Error{Code: failure.OriginalMissing, Msg: "the original is no longer stored"}
	}
	if err != nil {
		return nil, fmt.Errorf("read original: %w", err)
	}
	defer rc.Close()
	if attrs.Size > p.cfg.MaxOriginalBytes {
		// Only a direct upload can be this large: ingest caps the others.
		return nil, p.tooLarge()
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(attrs.Size, 0)+bytes.MinRead))
	if _, err := io.Copy(buf, io.LimitReader(rc, p.cfg.MaxOriginalBytes+1)); err != nil {
		return nil, fmt.Errorf("read original: %w", err)
	}
	return buf.Bytes(), nil
}

// maxConcurrentPuts bounds the variant writes of one job in flight at once.
const maxConcurrentPuts = 8

// storeVariants writes the variants to the public store concurrently: each
// write is a round trip (S3) or a few fsyncs (fsblob) that would otherwise
// wait for the one before (3 variants: one round trip's wait instead of
// three). The first error by variant order is returned; a failed job is
// retried whole, and the keys are stable, so a partial set is overwritten.
func (p *Processor) storeVariants(ctx context.Context, id string, outs []imaging.Output) error {
	errs := make([]error, len(outs))
	sem := make(chan struct{}, maxConcurrentPuts)
	var wg sync.WaitGroup
	for i, v := range outs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			key := id + "/" + v.Name
			if _, err := p.Variants.Put(ctx, key, bytes.NewReader(v.Data), blob.PutOptions{ContentType: v.ContentType, CacheControl: CacheControl}); err != nil {
				errs[i] = fmt.Errorf("store variant %s: %w", key, err)
			}
		}()
	}
	wg.Wait()
	return firstNonNil(errs)
}

func firstNonNil(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
