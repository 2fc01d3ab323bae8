// Package jobs is the contract between ingest and processor: the queue
// message, where an image's original lives, and how a new image record is
// submitted (record first, then the job, then QUEUED) so that a crash at any
// point leaves either nothing or a record that a retry can finish.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/google/uuid"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/queue"
	"github.com/imagepipe/imagepipe/internal/records"
)

// Job is the body of a queue message: process this image.
type Job struct {
	ImageID string `json:"image_id"`
}

// Encode returns the message body for a job.
func (j Job) Encode() []byte {
	b, _ := json.Marshal(j)
	return b
}

// Decode parses a message body.
func Decode(body []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(body, &j); err != nil {
		return Job{}, fmt.Errorf("jobs: bad message body: %w", err)
	}
	if j.ImageID == "" {
		return Job{}, errors.New("jobs: message without image_id")
	}
	return j, nil
}

// NewID returns a new, time-ordered image or batch id (UUIDv7).
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s has the form of an id NewID makes.
func ValidID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && len(s) == 36 && u.String() == s
}

var batchRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidBatchID reports whether s may name a batch: 1..64 of [A-Za-z0-9_-].
func ValidBatchID(s string) bool { return batchRE.MatchString(s) }

// OriginalKey is the key of an image's original in the originals store. A
// reprocessed image shares its source's original.
func OriginalKey(img *pb.Image) string {
	if img.GetSourceImageId() != "" {
		return img.GetSourceImageId()
	}
	return img.GetId()
}

// Enqueue puts img's job on the queue and moves a RECEIVED record to QUEUED.
// If a processor has already moved it further, that is kept.
func Enqueue(ctx context.Context, rs records.Store, q queue.Queue, id string) (*records.Record, error) {
	if _, err := q.Send(ctx, Job{ImageID: id}.Encode(), queue.SendOptions{}); err != nil {
		return nil, fmt.Errorf("jobs: enqueue %s: %w", id, err)
	}
	rec, err := records.Mutate(ctx, rs, id, func(img *pb.Image) error {
		if !records.CanMove(img.GetState(), pb.ImageState_IMAGE_STATE_QUEUED) {
			return records.ErrNoChange
		}
		img.State = pb.ImageState_IMAGE_STATE_QUEUED
		return nil
	})
	if errors.Is(err, records.ErrNoChange) {
		err = nil
	}
	return rec, err
}

// ErrEnqueue says Submit created the record but could not queue its job;
// the record is then FAILED (code "enqueue_failed"), not left RECEIVED.
var ErrEnqueue = errors.New("jobs: could not queue the job")

// Submit creates the RECEIVED record and enqueues it. records.ErrExists
// passes through when the id or idempotency key is taken; nothing was
// written then. Run it on a context the client cannot cancel, so a record
// is never left half-submitted.
func Submit(ctx context.Context, rs records.Store, q queue.Queue, img *pb.Image) (*records.Record, error) {
	img.State = pb.ImageState_IMAGE_STATE_RECEIVED
	if _, err := rs.Create(ctx, img); err != nil {
		return nil, err
	}
	rec, err := Enqueue(ctx, rs, q, img.GetId())
	if err != nil {
		_, _ = records.Mutate(ctx, rs, img.GetId(), func(im *pb.Image) error {
			if !records.CanMove(im.GetState(), pb.ImageState_IMAGE_STATE_FAILED) {
				return records.ErrNoChange
			}
			im.State = pb.ImageState_IMAGE_STATE_FAILED
			im.Error = &pb.ImageError{Code: "enqueue_failed", Message: "the image could not be queued for processing; upload it again"}
			return nil
		})
		return nil, fmt.Errorf("%w: %v", ErrEnqueue, err)
	}
	return rec, nil
}
