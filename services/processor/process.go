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
	if err := p.storeVariants(ctx, img, res.Variants); err != nil {
		return err
	}
	return p.markReady(ctx, img.GetId(), res, upload)
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
