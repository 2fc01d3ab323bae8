package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// Handle runs one delivery of a job. Every outcome is decided here: delete
// the message (done, permanently failed, duplicate), delay it (transient
// failure: a later delivery retries), or release it to the dead-letter
// queue (attempts used up). The queue's max receive count is MaxAttempts+1:
// the extra delivery is the safety net that marks an image FAILED when its
// last attempt was cut short by a crash or shutdown. A job for a deleted
// image is dropped: nothing is written, changed or announced. So is a
// direct upload's notification that comes once its image admitted an
// upload, finished or was deleted, except that its object goes: it is a
// late or second upload (claim, dropUpload).
func (p *Processor) Handle(ctx context.Context, m queue.Message) {
	job, err := jobs.Decode(m.Body)
	if err != nil {
		p.Log.Error("dropping undecodable job", "message", m.ID, "err", err)
		p.consumer.Ack(ctx, m)
		return
	}
	ctx, span := startProcess(ctx, m, job)
	defer span.End()
	log := withTrace(p.Log.With("image", job.ImageID, "attempt", m.ReceiveCount), span)
	if m.ReceiveCount > p.cfg.MaxAttempts {
		p.attemptsUsedUp(ctx, log, m, job)
		return
	}
	img, ok := p.claim(ctx, log, m, job)
	if !ok {
		return
	}
	p.metrics.inFlight.Inc()
	err = p.attempt(ctx, m, img)
	p.metrics.inFlight.Dec()
	endSpan(span, err)
	if ctx.Err() != nil {
		return // cut short by shutdown: the job is redelivered
	}
	p.finish(ctx, log, m, img, err)
}

// errDeleted says the image was deleted while its job ran.
var errDeleted = errors.New("processor: the image was deleted")

// dropDeleted settles the job of img (as claimed), deleted while the job
// ran: the variants this attempt may have stored are removed (the delete
// removed those it could see; these may have come after), and so is a
// direct upload's original, which admitting it may have copied after the
// delete; then the job is acked, announcing nothing (the delete announced
// the image's end).
func (p *Processor) dropDeleted(ctx context.Context, log *slog.Logger, m queue.Message, img *pb.Image) {
	log.Info("image deleted while it was processed; its variants are removed")
	p.deleteVariants(ctx, img)
	if ownUpload(img) {
		if err := deleteAll(ctx, p.Originals, jobs.OwnOriginalKeys(img.GetId())); err != nil {
			log.Warn("could not delete the original of a deleted image", "err", err)
		}
	}
	p.consumer.Ack(ctx, m)
}

// dropUpload settles the notification of an object under uploads/ for
// cur (as recorded), which waits for no upload any more: it was deleted
// (the upload came after the delete), admitted an upload, or finished
// without one. The object goes (settleUpload); nothing else changes and,
// on a first delivery, nothing is announced: it is a second upload, or a
// repeat of the notification that admitted one. A redelivery for a
// finished image may be the very delivery that finished it, whose worker
// died before announcing the end, so it announces again (webhooks dedupe
// by event).
func (p *Processor) dropUpload(ctx context.Context, log *slog.Logger, m queue.Message, cur *pb.Image) {
	if err := p.settleUpload(ctx, cur); err != nil {
		log.Error("could not remove a direct upload the image does not wait for; job will be redelivered", "err", err)
		return
	}
	switch {
	case cur.GetState() == pb.ImageState_IMAGE_STATE_DELETED:
		log.Info("direct upload for a deleted image; removed it")
	case m.ReceiveCount > 1 && records.Terminal(cur.GetState()):
		log.Info("redelivered notification of a finished image's direct upload", "state", cur.GetState())
		p.announceThenAck(ctx, log, m, cur.GetId())
		return
	default:
		log.Info("direct upload for an image that does not wait for one; removed it", "state", cur.GetState())
	}
	p.consumer.Ack(ctx, m)
}

// attemptsUsedUp handles the extra delivery after the last attempt, which
// was cut short: the image is FAILED and the job goes to the dead-letter
// queue.
func (p *Processor) attemptsUsedUp(ctx context.Context, log *slog.Logger, m queue.Message, job jobs.Job) {
	id := job.ImageID
	err := p.fail(ctx, id, failure.ProcessingFailed, fmt.Sprintf("processing failed after %d attempts", p.cfg.MaxAttempts))
	if errors.Is(err, errDeleted) {
		// The delete removed what the attempts had stored; the tombstone no
		// longer names the variants a cut-short attempt stored after it,
		// but a direct upload's originals are known by the id alone.
		log.Info("job for a deleted image; dropping it")
		if job.Upload != nil {
			if err := deleteAll(ctx, p.Originals, jobs.OwnOriginalKeys(id)); err != nil {
				log.Error("could not delete a deleted image's direct upload; job will be redelivered", "err", err)
				return
			}
		}
		p.consumer.Ack(ctx, m)
		return
	}
	if err != nil {
		log.Error("could not mark image failed; job will be redelivered", "err", err)
		return
	}
	log.Warn("attempts used up; job goes to the dead-letter queue")
	p.announce(ctx, log, id)
	p.consumer.Release(ctx, m)
}

// claim moves the image to PROCESSING and counts the attempt. When there
// is nothing to process (a finished or deleted image, an unknown one, the
// status store down) it settles the message and reports false.
//
// A direct upload's notification is claimed while its image waits for
// its upload (jobs.Unadmitted), and then admits it. Once the image
// admitted one, a first delivery of a notification is a second upload (or
// a repeat) and is dropped with its object (dropUpload); a redelivery may
// be the retry of the delivery that admitted the upload, so it is claimed
// while the image can still be processed, and reads the admitted original
// (readOriginal).
func (p *Processor) claim(ctx context.Context, log *slog.Logger, m queue.Message, job jobs.Job) (*pb.Image, bool) {
	id := job.ImageID
	rec, err := records.Mutate(ctx, p.Records, id, func(img *pb.Image) error {
		if !records.CanMove(img.GetState(), pb.ImageState_IMAGE_STATE_PROCESSING) {
			return records.ErrNoChange
		}
		if job.Upload != nil && !jobs.Unadmitted(img) && m.ReceiveCount <= 1 {
			return records.ErrNoChange
		}
		img.State = pb.ImageState_IMAGE_STATE_PROCESSING
		img.Attempts++
		return nil
	})
	switch {
	case errors.Is(err, records.ErrNoChange) && job.Upload != nil:
		p.dropUpload(ctx, log, m, rec.Image)
		return nil, false
	case errors.Is(err, records.ErrNoChange) && rec.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED:
		log.Info("job for a deleted image; dropping it")
		p.consumer.Ack(ctx, m)
		return nil, false
	case errors.Is(err, records.ErrNoChange):
		log.Info("duplicate delivery of a finished image", "state", rec.Image.GetState())
		// Announce again: the delivery that finished it may have died before
		// announcing. Webhook deliveries are keyed by event, so nothing is
		// sent twice.
		p.announceThenAck(ctx, log, m, id)
		return nil, false
	case errors.Is(err, records.ErrNotFound):
		log.Error("job for an unknown image; dropping it")
		p.consumer.Ack(ctx, m)
		return nil, false
	case err != nil:
		log.Error("status store unavailable; job will be redelivered", "err", err)
		return nil, false
	}
	return rec.Image, true
}

// attempt processes the image within cfg.JobTimeout while a heartbeat
// keeps its job hidden from other workers. An attempt that fails once its
// deadline has passed (and not because of a shutdown) fails permanently
// with failure.Timeout (timedOut).
func (p *Processor) attempt(ctx context.Context, m queue.Message, img *pb.Image) error {
	stopHeartbeat := p.consumer.Heartbeat(ctx, m)
	defer stopHeartbeat()
	jobCtx, cancel := context.WithTimeout(ctx, p.cfg.JobTimeout)
	defer cancel()
	err := p.process(jobCtx, img)
	if err != nil && ctx.Err() == nil && errors.Is(jobCtx.Err(), context.DeadlineExceeded) {
		return p.timedOut(err)
	}
	return err
}

// timedOut classifies err, from an attempt whose deadline passed: the
// same spec on the same original would take as long again, so retrying
// would only spend the work MaxAttempts times. It is a permanent
// failure.Timeout, unless err already is permanent or says the image was
// deleted or superseded meanwhile. (A store that stalls past the deadline
// also ends here: the deadline is the attempt's whole budget.)
func (p *Processor) timedOut(err error) error {
	var perm *imaging.Error
	if errors.As(err, &perm) || errors.Is(err, errDeleted) || errors.Is(err, errSuperseded) {
		return err
	}
	timeout := &imaging.Error{Code: failure.Timeout, Msg: fmt.Sprintf("processing took longer than %s", p.cfg.JobTimeout)}
	return fmt.Errorf("%w: %w", timeout, err)
}

// finish decides the outcome of an attempt on img (as claimed) that ran
// to its end: READY, FAILED at once (a permanent failure), FAILED and
// dead-lettered (the last attempt failed), a retry, or nothing when the
// image was deleted meanwhile or admitted another direct upload.
func (p *Processor) finish(ctx context.Context, log *slog.Logger, m queue.Message, img *pb.Image, err error) {
	id := img.GetId()
	var perm *imaging.Error
	switch {
	case err == nil:
		log.Info("image ready")
		p.announceThenAck(ctx, log, m, id)
	case errors.Is(err, errDeleted):
		p.dropDeleted(ctx, log, m, img)
	case errors.Is(err, errSuperseded):
		// The delivery that admitted the other upload finishes the image
		// and announces it.
		log.Info("another direct upload of the image was admitted first; this one was removed")
		p.consumer.Ack(ctx, m)
	case errors.As(err, &perm):
		log.Info("image failed permanently", "code", perm.Code, "err", err)
		ferr := p.fail(ctx, id, perm.Code, perm.Error())
		if errors.Is(ferr, errDeleted) {
			p.dropDeleted(ctx, log, m, img)
			return
		}
		if ferr != nil {
			log.Error("could not mark image failed; job will be redelivered", "err", ferr)
			p.consumer.Delay(ctx, m, p.backoff(m.ReceiveCount))
			return
		}
		p.announceThenAck(ctx, log, m, id)
	case m.ReceiveCount >= p.cfg.MaxAttempts:
		log.Error("last attempt failed; image failed, job goes to the dead-letter queue", "err", err)
		ferr := p.fail(ctx, id, failure.ProcessingFailed, fmt.Sprintf("processing failed after %d attempts", m.ReceiveCount))
		switch {
		case errors.Is(ferr, errDeleted):
			p.dropDeleted(ctx, log, m, img)
			return
		case ferr != nil:
			log.Error("could not mark image failed; the next delivery will", "err", ferr)
		default:
			p.announce(ctx, log, id)
		}
		p.consumer.Release(ctx, m)
	default:
		p.retry(ctx, log, m, img, err)
	}
}

// retry notes on the image that an attempt failed and delays its job by
// the backoff.
func (p *Processor) retry(ctx context.Context, log *slog.Logger, m queue.Message, img *pb.Image, err error) {
	delay := p.backoff(m.ReceiveCount)
	cur, merr := records.Mutate(ctx, p.Records, img.GetId(), func(im *pb.Image) error {
		if records.Terminal(im.GetState()) {
			return records.ErrNoChange
		}
		im.Error = &pb.ImageError{Code: failure.Retrying, Message: fmt.Sprintf("attempt %d failed; retrying in %s", m.ReceiveCount, delay)}
		return nil
	})
	if errors.Is(merr, records.ErrNoChange) && cur.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
		p.dropDeleted(ctx, log, m, img) // the attempt may have stored some variants
		return
	}
	log.Warn("attempt failed; retrying", "in", delay, "err", err)
	p.consumer.Delay(ctx, m, delay)
}

// announceThenAck acks the job of an image that ended once its end is
// announced; when announcing fails the job is left to be redelivered.
func (p *Processor) announceThenAck(ctx context.Context, log *slog.Logger, m queue.Message, id string) {
	if p.announce(ctx, log, id) {
		p.consumer.Ack(ctx, m)
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

// fail marks an image FAILED unless it already reached a terminal state,
// and removes any variants an attempt stored, so nothing of a failed image
// is served. It returns errDeleted for a deleted image.
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
	case errors.Is(err, records.ErrNoChange) && rec.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED:
		return errDeleted
	case errors.Is(err, records.ErrNoChange), errors.Is(err, records.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	p.metrics.failed(code)
	p.deleteVariants(ctx, rec.Image)
	return nil
}
