package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// process makes and stores the variants of img (as claimed) and marks the
// image READY.
func (p *Processor) process(ctx context.Context, img *pb.Image) error {
	src, err := p.readOriginal(ctx, img)
	if err != nil {
		return err
	}
	res, err := Render(ctx, p.Presets, img.GetSpec(), src, p.cfg.Limits)
	if err != nil {
		return err
	}
	if err := p.storeVariants(ctx, img, res.Variants); err != nil {
		return err
	}
	return p.markReady(ctx, img.GetId(), res)
}

// readOriginal reads img's original (jobs.OriginalKey). A direct upload
// not admitted yet is admitted first; one admitted by an earlier delivery
// has its upload settled first (a crash may have stopped its admission
// before the copy or the delete; a second upload may have come since).
func (p *Processor) readOriginal(ctx context.Context, img *pb.Image) ([]byte, error) {
	switch {
	case jobs.Unadmitted(img):
		return p.admit(ctx, img)
	case ownUpload(img):
		if err := p.settleUpload(ctx, img); err != nil {
			return nil, err
		}
	}
	return p.readObject(ctx, jobs.OriginalKey(img))
}

// readObject reads an original, up to MaxOriginalBytes: a missing or
// larger one is a permanent failure.
func (p *Processor) readObject(ctx context.Context, key string) ([]byte, error) {
	rc, attrs, err := p.Originals.Get(ctx, key)
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
