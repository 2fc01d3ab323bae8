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
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// Job is the body of a queue message: process this image.
type Job struct {
	ImageID string `json:"image_id"`
	// Upload is set for a job decoded from an S3 ObjectCreated
	// notification: an object arrived under UploadPrefix through a POST
	// policy (the image's upload, or a second one).
	Upload *Upload `json:"-"`
}

// Upload is what an S3 event says about a directly uploaded original.
type Upload struct {
	Key  string // object key, prefix included
	Size int64
}

// Encode returns the message body for a job.
func (j Job) Encode() []byte {
	b, _ := json.Marshal(j)
	return b
}

// ErrNotAJob is returned for messages that carry nothing to do, such as
// the s3:TestEvent S3 sends when a notification is configured.
var ErrNotAJob = errors.New("jobs: message carries no job")

// s3Event is the part of an S3 event notification the processor reads.
type s3Event struct {
	Event   string `json:"Event"` // "s3:TestEvent"
	Records []struct {
		EventName string `json:"eventName"`
		S3        struct {
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// Decode parses a message body: a Job, or an S3 event notification of an
// object created under UploadPrefix (the key names the image).
func Decode(body []byte) (Job, error) {
	var probe struct {
		ImageID string          `json:"image_id"`
		Records json.RawMessage `json:"Records"`
		Event   string          `json:"Event"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return Job{}, fmt.Errorf("jobs: bad message body: %w", err)
	}
	switch {
	case probe.ImageID != "":
		return Job{ImageID: probe.ImageID}, nil
	case probe.Event == "s3:TestEvent":
		return Job{}, ErrNotAJob
	case probe.Records != nil:
		return decodeS3Event(body)
	}
	return Job{}, errors.New("jobs: message without image_id")
}

func decodeS3Event(body []byte) (Job, error) {
	var ev s3Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Job{}, fmt.Errorf("jobs: bad S3 event: %w", err)
	}
	if len(ev.Records) != 1 {
		return Job{}, fmt.Errorf("jobs: S3 event with %d records, want 1", len(ev.Records))
	}
	r := ev.Records[0]
	if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
		return Job{}, fmt.Errorf("%w: S3 event %s", ErrNotAJob, r.EventName)
	}
	key, err := url.QueryUnescape(r.S3.Object.Key) // S3 event keys are URL-encoded
	if err != nil {
		return Job{}, fmt.Errorf("jobs: S3 event key %q: %w", r.S3.Object.Key, err)
	}
	i := strings.LastIndex(key, "/"+UploadPrefix)
	rest := strings.TrimPrefix(key, UploadPrefix)
	if i >= 0 {
		rest = key[i+1+len(UploadPrefix):]
	} else if rest == key {
		return Job{}, fmt.Errorf("jobs: S3 event for %q, outside %s", key, UploadPrefix)
	}
	if !ValidID(rest) {
		return Job{}, fmt.Errorf("jobs: S3 event for %q: not an image id", key)
	}
	return Job{ImageID: rest, Upload: &Upload{Key: key, Size: r.S3.Object.Size}}, nil
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

// UploadPrefix is where direct uploads (POST policies) land in the
// originals store; the bucket notifies the job queue of objects created
// under it.
const UploadPrefix = "uploads/"

// OriginalKey is the key of an image's original in the originals store:
//
//   - a reprocessed image's is its source's (SourceImageId);
//   - a direct upload's is UploadPrefix + id until the processor admits
//     it (Unadmitted), then its id: admitting records the upload's SHA-256
//     in Original.Sha256, then copies it to the id, then deletes it under
//     UploadPrefix, where a client may still write until its policy
//     expires and whatever arrives later is discarded;
//   - every other image's is its id.
func OriginalKey(img *pb.Image) string {
	switch {
	case img.GetSourceImageId() != "":
		return img.GetSourceImageId()
	case Unadmitted(img):
		return UploadPrefix + img.GetId()
	}
	return img.GetId()
}

// Unadmitted reports whether img is a direct upload whose upload the
// processor has not admitted yet: no SHA-256 of its original is recorded.
func Unadmitted(img *pb.Image) bool {
	return img.GetSourceImageId() == "" && img.GetOriginal().GetDirectUpload() && img.GetOriginal().GetSha256() == ""
}

// OwnOriginalKeys are the keys under which image id's own original may be
// in the originals store: where ingest puts it and where a direct upload
// lands. Neither is ever another image's original (a reprocessed image
// reads its source's, under the source's key, and has none of its own),
// so deleting both is safe for any image, even when its record no longer
// says how it was uploaded.
func OwnOriginalKeys(id string) []string { return []string{id, UploadPrefix + id} }

// PrivatePrefix is where a private image's variants are kept in the
// variants store, apart from the public ones so that a CDN or bucket policy
// in front of the store can refuse the prefix while serving the rest. The
// gateway serves them only with a valid signature.
const PrivatePrefix = "private/"

// VariantKey is the variants-store key of a variant of image id:
// "{id}/{variant}", or under PrivatePrefix for a private image.
func VariantKey(id, variant string, private bool) string {
	if private {
		return PrivatePrefix + id + "/" + variant
	}
	return id + "/" + variant
}

// Private reports whether img's variants are private.
func Private(img *pb.Image) bool { return img.GetVisibility() == pb.Visibility_VISIBILITY_PRIVATE }

// VariantPath is the URL path of a variant, public or private: the gateway
// serves "/a/{id}/{variant}" (a private one with ?exp=&sig=).
func VariantPath(id, variant string) string { return "/a/" + id + "/" + variant }

// Enqueue puts img's job on the queue and moves a RECEIVED record to QUEUED.
// If a processor has already moved it further, that is kept.
func Enqueue(ctx context.Context, rs records.Store, q queue.Queue, id string) (*records.Record, error) {
	// The trace context rides along in the message's attributes (trace.go).
	attrs := TraceAttributes(ctx)
	if _, err := q.Send(ctx, Job{ImageID: id}.Encode(), queue.SendOptions{Attributes: attrs}); err != nil {
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
// the record is then FAILED (code failure.EnqueueFailed), not left RECEIVED.
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
			im.Error = &pb.ImageError{Code: failure.EnqueueFailed, Message: "the image could not be queued for processing; upload it again"}
			return nil
		})
		return nil, fmt.Errorf("%w: %v", ErrEnqueue, err)
	}
	return rec, nil
}
