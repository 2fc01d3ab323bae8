package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// CacheControl of a public image's variant: its URL never changes
// meaning.
const CacheControl = "public, max-age=31536000, immutable"

// PrivateCacheControl of a private image's variant: no shared cache may
// keep it (the gateway serves it only with a valid signature), a browser
// only for an hour.
const PrivateCacheControl = "private, max-age=3600"

// cacheControl is the Cache-Control of img's variants.
func cacheControl(img *pb.Image) string {
	if jobs.Private(img) {
		return PrivateCacheControl
	}
	return CacheControl
}

// maxConcurrentPuts bounds the variant writes of one job in flight at once.
const maxConcurrentPuts = 8

// storeVariants writes img's variants to the variants store, a private
// image's under jobs.PrivatePrefix, concurrently: each write is a round
// trip (S3) or a few fsyncs (fsblob) that would otherwise wait for the one
// before (3 variants: one round trip's wait instead of three). The first
// error by variant order is returned; a failed job is retried whole, and
// the keys are stable, so a partial set is overwritten.
func (p *Processor) storeVariants(ctx context.Context, img *pb.Image, outs []imaging.Output) error {
	private, cc := jobs.Private(img), cacheControl(img)
	errs := make([]error, len(outs))
	sem := make(chan struct{}, maxConcurrentPuts)
	var wg sync.WaitGroup
	for i, v := range outs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			key := jobs.VariantKey(img.GetId(), v.Name, private)
			errs[i] = p.storeVariant(ctx, key, v, cc)
		}()
	}
	wg.Wait()
	return firstNonNil(errs)
}

// storeVariant writes one variant, in a span of its own and timed as the
// store stage.
func (p *Processor) storeVariant(ctx context.Context, key string, v imaging.Output, cacheControl string) (err error) {
	ctx, span := tracer().Start(ctx, "store", trace.WithAttributes(attribute.String("imagepipe.variant", v.Name), attribute.Int("imagepipe.bytes", len(v.Data))))
	defer func() { endSpan(span, err) }()
	t0 := time.Now()
	if _, err := p.Variants.Put(ctx, key, bytes.NewReader(v.Data), blob.PutOptions{ContentType: v.ContentType, CacheControl: cacheControl}); err != nil {
		return fmt.Errorf("store variant %s: %w", key, err)
	}
	p.metrics.observe(stageStore, time.Since(t0))
	return nil
}

func firstNonNil(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// markReady records the stored variants and what rendering learnt of the
// original (a direct upload's size, SHA-256 and format were recorded when
// it was admitted), and moves the image to READY, unless another delivery
// finished it first. It returns errDeleted if the image was deleted
// meanwhile.
func (p *Processor) markReady(ctx context.Context, id string, res *imaging.Result) error {
	infos := p.variantInfos(id, res.Variants)
	cur, err := records.Mutate(ctx, p.Records, id, func(im *pb.Image) error {
		if records.Terminal(im.GetState()) {
			return records.ErrNoChange // another delivery finished first; same keys, same variants
		}
		im.State = pb.ImageState_IMAGE_STATE_READY
		im.Error = nil
		im.Variants = infos
		if im.Original == nil {
			im.Original = &pb.OriginalInfo{}
		}
		im.Original.Width = int32(res.Source.Width)
		im.Original.Height = int32(res.Source.Height)
		im.Original.Frames = int32(res.Source.Frames)
		im.Original.Blurhash = res.Extras.BlurHash
		im.Original.DominantColor = res.Extras.DominantColor
		im.Original.Phash = res.Extras.PHashHex()
		return nil
	})
	if err == nil {
		p.metrics.ready()
	}
	if errors.Is(err, records.ErrNoChange) {
		switch cur.Image.GetState() {
		case pb.ImageState_IMAGE_STATE_FAILED:
			p.deleteVariants(ctx, cur.Image) // it failed meanwhile: serve nothing
		case pb.ImageState_IMAGE_STATE_DELETED:
			return errDeleted // the caller removes what this attempt stored
		}
		return nil
	}
	return err
}

// variantInfos describes the stored variants of image id. A private
// image's URLs are the same unsigned ones: they are signed when the record
// is returned to a caller.
func (p *Processor) variantInfos(id string, outs []imaging.Output) []*pb.VariantInfo {
	infos := make([]*pb.VariantInfo, 0, len(outs))
	for _, v := range outs {
		infos = append(infos, &pb.VariantInfo{
			Name:        v.Name,
			Url:         p.cfg.PublicURL + jobs.VariantPath(id, v.Name),
			Format:      spec.FormatOf(v.Format),
			ContentType: v.ContentType,
			Width:       int32(v.Width),
			Height:      int32(v.Height),
			Bytes:       int64(len(v.Data)),
			Frames:      int32(v.Frames),
			Quality:     int32(v.Quality),
		})
	}
	return infos
}

// deleteVariants removes every variant an attempt may have stored for
// img: a key for each variant of its spec.
func (p *Processor) deleteVariants(ctx context.Context, img *pb.Image) {
	private := jobs.Private(img)
	for _, v := range img.GetSpec().GetVariants() {
		if err := p.Variants.Delete(ctx, jobs.VariantKey(img.GetId(), v.GetName(), private)); err != nil {
			p.Log.Warn("could not delete a variant of an image that failed or was deleted", "image", img.GetId(), "variant", v.GetName(), "err", err)
		}
	}
}
