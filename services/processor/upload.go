package processor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// Direct uploads. A client uploads under jobs.UploadPrefix+id with a POST
// policy it may use again until it expires, so the first upload the
// processor admits becomes the image's original under its id, like a
// streamed one's, and whatever comes later under uploads/ is discarded:
// the original that retries and reprocessing read never changes.

// errSuperseded says another delivery admitted a different upload of the
// image first, or the image finished without this one: this delivery's
// upload was discarded and it has nothing left to do.
var errSuperseded = errors.New("processor: another upload of the image was admitted first")

// uploadInfo is what the processor learns about a directly uploaded
// original, which no ingest service saw.
type uploadInfo struct {
	Bytes  int64
	Sha256 string
	Format pb.Format
	// MIME is the content type of the sniffed format.
	MIME string
}

// checkUpload applies to a direct upload the checks ingest applies to a
// streamed one, as permanent failures: size limit (openObject refuses a
// larger object before reading it) and format by magic bytes.
func (p *Processor) checkUpload(src *original) (*uploadInfo, error) {
	if src.size > p.cfg.MaxOriginalBytes {
		return nil, p.tooLarge()
	}
	sniffed, err := sniffOriginal(src)
	if err != nil {
		return nil, err
	}
	format := spec.SourceFormat(sniffed)
	if format == pb.Format_FORMAT_UNSPECIFIED {
		return nil, imaging.ErrUnsupportedFormat
	}
	sum, err := sha256Hex(src)
	if err != nil {
		return nil, err
	}
	return &uploadInfo{Bytes: src.size, Sha256: sum, Format: format, MIME: sniffed.MIME()}, nil
}

// sniffOriginal detects the format of src from its magic bytes.
func sniffOriginal(src *original) (sniff.Format, error) {
	head := make([]byte, min(src.size, sniff.HeaderLen))
	if _, err := src.ReadAt(head, 0); err != nil {
		return sniff.Unknown, fmt.Errorf("read original: %w", err)
	}
	return sniff.Detect(head), nil
}

// sha256Hex hashes src, streamed.
func sha256Hex(src *original) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, src.section()); err != nil {
		return "", fmt.Errorf("read original: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// admit makes the upload under uploads/ of img (as claimed, unadmitted)
// its original and returns it. The steps are ordered so that a crash or
// failure at any point leaves something a later delivery finishes:
//
//  1. read it and check it (checkUpload);
//  2. record its size, SHA-256 and format: the image is admitted, and
//     jobs.OriginalKey names its id from now on. Refused if the image was
//     deleted (errDeleted), or another delivery admitted another upload
//     or the image finished meanwhile (errSuperseded);
//  3. copy it to its id, from the file opened in 1 (the bytes checked and
//     hashed, not whatever is under uploads/ by now: a store replaces an
//     object with another file, and a temporary copy is the processor's);
//  4. delete it under uploads/.
//
// Recording before copying means that only the delivery that admitted an
// upload (or one of the same bytes) ever writes the original: two
// deliveries admitting different uploads at once cannot leave one's bytes
// under a record of the other's. A delivery after 2 finds the image
// admitted and first settles its upload (settleUpload), which finishes 3
// and 4 from uploads/ if the bytes there are the recorded ones.
func (p *Processor) admit(ctx context.Context, img *pb.Image) (_ *original, err error) {
	id := img.GetId()
	src, err := p.openObject(ctx, jobs.UploadPrefix+id)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			src.close()
		}
	}()
	info, err := p.checkUpload(src)
	if err != nil {
		return nil, err
	}
	cur, err := records.Mutate(ctx, p.Records, id, func(im *pb.Image) error {
		if records.Terminal(im.GetState()) || !jobs.Unadmitted(im) {
			return records.ErrNoChange
		}
		im.Original.Bytes, im.Original.Sha256, im.Original.Format = info.Bytes, info.Sha256, info.Format
		return nil
	})
	switch {
	case errors.Is(err, records.ErrNoChange) && cur.Image.GetState() == pb.ImageState_IMAGE_STATE_DELETED:
		return nil, errDeleted
	case errors.Is(err, records.ErrNoChange) && cur.Image.GetOriginal().GetSha256() != info.Sha256:
		// This upload is a second one: it goes, as the image's record says.
		if err := p.settleUpload(ctx, cur.Image); err != nil {
			return nil, err
		}
		return nil, errSuperseded
	case errors.Is(err, records.ErrNoChange):
		// Another delivery admitted the same bytes (a repeated
		// notification): copying them again changes nothing.
	case err != nil:
		return nil, fmt.Errorf("record the direct upload: %w", err)
	}
	if _, err := p.Originals.Put(ctx, id, src.section(), blob.PutOptions{ContentType: info.MIME}); err != nil {
		return nil, fmt.Errorf("copy the direct upload to the original: %w", err)
	}
	if err := p.Originals.Delete(ctx, jobs.UploadPrefix+id); err != nil {
		return nil, fmt.Errorf("delete the direct upload: %w", err)
	}
	return src, nil
}

// settleUpload removes what is under uploads/ for cur (as recorded) once
// nothing may read it there: cur admitted an upload, finished without
// one, or was deleted. For a deleted image both of its own original keys
// go: a delivery that admitted its upload just before the delete may have
// copied it after. For an admitted one, the admitted bytes are at its id
// first: when they are not (the delivery that admitted them stopped, or is
// still, between recording and copying) and the object under uploads/ is
// still them (its SHA-256 is the recorded one), it is copied there; any
// other object is a second upload. A second upload that overwrote the
// admitted bytes before they were copied leaves the image without an
// original: its delivery then fails with original_missing.
func (p *Processor) settleUpload(ctx context.Context, cur *pb.Image) error {
	id := cur.GetId()
	if cur.GetState() == pb.ImageState_IMAGE_STATE_DELETED {
		if err := deleteAll(ctx, p.Originals, jobs.OwnOriginalKeys(id)); err != nil {
			return fmt.Errorf("delete the originals of a deleted image: %w", err)
		}
		return nil
	}
	if ownUpload(cur) && !jobs.Unadmitted(cur) {
		if err := p.keepAdmitted(ctx, cur); err != nil {
			return err
		}
	}
	if err := p.Originals.Delete(ctx, jobs.UploadPrefix+id); err != nil {
		return fmt.Errorf("delete a direct upload that is not needed: %w", err)
	}
	return nil
}

// keepAdmitted makes sure the admitted upload of cur is at its id, as
// settleUpload says.
func (p *Processor) keepAdmitted(ctx context.Context, cur *pb.Image) error {
	id := cur.GetId()
	_, err := p.Originals.Head(ctx, id)
	if !errors.Is(err, blob.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("look for the original: %w", err)
		}
		return nil
	}
	src, err := p.openObject(ctx, jobs.UploadPrefix+id)
	var perm *imaging.Error
	switch {
	case errors.As(err, &perm):
		return nil // gone, or too large to be the admitted upload
	case err != nil:
		return err
	}
	defer src.close()
	sum, err := sha256Hex(src)
	if err != nil {
		return err
	}
	if sum != cur.GetOriginal().GetSha256() {
		return nil // a second upload
	}
	sniffed, err := sniffOriginal(src)
	if err != nil {
		return err
	}
	if _, err := p.Originals.Put(ctx, id, src.section(), blob.PutOptions{ContentType: sniffed.MIME()}); err != nil {
		return fmt.Errorf("copy the direct upload to the original: %w", err)
	}
	return nil
}

// ownUpload reports whether img is a direct upload with an original of its
// own (not a reprocessed image of one, which reads its source's): the
// only images whose originals the processor writes.
func ownUpload(img *pb.Image) bool {
	return img.GetOriginal().GetDirectUpload() && img.GetSourceImageId() == ""
}

// tooLarge is the permanent failure of an original over MaxOriginalBytes.
func (p *Processor) tooLarge() error {
	return &imaging.Error{Code: failure.TooLarge, Msg: fmt.Sprintf("the upload is larger than the %d-byte limit", p.cfg.MaxOriginalBytes)}
}
