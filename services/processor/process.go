package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"go.opentelemetry.io/otel/attribute"
)

// process makes and stores the variants of img (as claimed) and marks the
// image READY.
func (p *Processor) process(ctx context.Context, img *pb.Image) error {
	src, err := p.fetch(ctx, img)
	if err != nil {
		return err
	}
	res, err := RenderFile(ctx, p.Presets, img.GetSpec(), src.File, p.cfg.Limits)
	src.close()
	if err != nil {
		return err
	}
	p.metrics.observeResult(res)
	recordRender(ctx, res)
	if err := p.storeVariants(ctx, img, res.Variants); err != nil {
		return err
	}
	return p.markReady(ctx, img.GetId(), res)
}

// fetch opens img's original (openOriginal) in the fetch span, timed as
// the fetch stage.
func (p *Processor) fetch(ctx context.Context, img *pb.Image) (_ *original, err error) {
	ctx, span := tracer().Start(ctx, "fetch")
	defer func() { endSpan(span, err) }()
	t0 := time.Now()
	src, err := p.openOriginal(ctx, img)
	if err != nil {
		return nil, err
	}
	p.metrics.observe(stageFetch, time.Since(t0))
	span.SetAttributes(attribute.Int64("imagepipe.bytes", src.size))
	return src, nil
}

// original is an original open for reading: the store's own file or a
// temporary copy (openObject). The whole of it never comes into the Go
// heap: libvips reads it through a descriptor, Go only its ends and
// (direct uploads) a stream through SHA-256.
type original struct {
	*os.File
	size  int64
	close func()
}

// section reads the whole original without moving the file's offset.
func (o *original) section() *io.SectionReader { return io.NewSectionReader(o.File, 0, o.size) }

// openOriginal opens img's original (jobs.OriginalKey). A direct upload
// not admitted yet is admitted first; one admitted by an earlier delivery
// has its upload settled first (a crash may have stopped its admission
// before the copy or the delete; a second upload may have come since).
func (p *Processor) openOriginal(ctx context.Context, img *pb.Image) (*original, error) {
	switch {
	case jobs.Unadmitted(img):
		return p.admit(ctx, img)
	case ownUpload(img):
		if err := p.settleUpload(ctx, img); err != nil {
			return nil, err
		}
	}
	return p.openObject(ctx, jobs.OriginalKey(img))
}

// openObject opens an original, up to MaxOriginalBytes: a missing or
// larger one is a permanent failure. A store of local files (blob.Localer,
// the embedded fsblob) gives its own file; any other (S3) is streamed into
// a temporary file in TempDir, removed when the original is closed (at
// once where the system allows: then not even a crash leaves it behind).
func (p *Processor) openObject(ctx context.Context, key string) (*original, error) {
	if l, ok := p.Originals.(blob.Localer); ok {
		f, attrs, err := l.OpenLocal(ctx, key)
		if err != nil {
			return nil, p.openError(err)
		}
		if attrs.Size > p.cfg.MaxOriginalBytes {
			_ = f.Close()
			return nil, p.tooLarge() // only a direct upload can be this large: ingest caps the others
		}
		return &original{File: f, size: attrs.Size, close: func() { _ = f.Close() }}, nil
	}
	rc, attrs, err := p.Originals.Get(ctx, key)
	if err != nil {
		return nil, p.openError(err)
	}
	defer rc.Close()
	if attrs.Size > p.cfg.MaxOriginalBytes {
		return nil, p.tooLarge()
	}
	return p.copyToTemp(ctx, rc)
}

// openError classifies a failure to open an original.
func (p *Processor) openError(err error) error {
	if errors.Is(err, blob.ErrNotFound) {
		return &imaging.Error{Code: failure.OriginalMissing, Msg: "the original is no longer stored"}
	}
	return fmt.Errorf("read original: %w", err)
}

// copyToTemp streams r, up to MaxOriginalBytes, into a new temporary file.
func (p *Processor) copyToTemp(ctx context.Context, r io.Reader) (*original, error) {
	f, err := os.CreateTemp(p.cfg.TempDir, "imagepipe-original-*")
	if err != nil {
		return nil, fmt.Errorf("read original: temporary file: %w", err)
	}
	name := f.Name()
	unlinked := os.Remove(name) == nil // an open file lives on where unlinking it is allowed
	o := &original{File: f, close: func() {
		_ = f.Close()
		if !unlinked {
			_ = os.Remove(name)
		}
	}}
	n, err := io.Copy(f, io.LimitReader(blob.ContextReader(ctx, r), p.cfg.MaxOriginalBytes+1))
	switch {
	case err != nil:
		o.close()
		return nil, fmt.Errorf("read original: %w", err)
	case n > p.cfg.MaxOriginalBytes:
		o.close()
		return nil, p.tooLarge()
	}
	o.size = n
	return o, nil
}
