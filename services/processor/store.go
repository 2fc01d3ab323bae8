package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// CacheControl of every variant: its URL never changes meaning.
const CacheControl = "public, max-age=31536000, immutable"

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

// markReady records the stored variants and what rendering learnt of the
// original, and moves the image to READY, unless another delivery finished
// it first.
func (p *Processor) markReady(ctx context.Context, id string, res *imaging.Result, upload *uploadInfo) error {
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

// variantInfos describes the stored variants of image id.
func (p *Processor) variantInfos(id string, outs []imaging.Output) []*pb.VariantInfo {
	infos := make([]*pb.VariantInfo, 0, len(outs))
	for _, v := range outs {
		key := id + "/" + v.Name
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
	return infos
}

// deleteVariants removes every variant key of an image's spec.
func (p *Processor) deleteVariants(ctx context.Context, img *pb.Image) {
	for _, v := range img.GetSpec().GetVariants() {
		if err := p.Variants.Delete(ctx, img.GetId()+"/"+v.GetName()); err != nil {
			p.Log.Warn("could not delete a failed image's variant", "image", img.GetId(), "variant", v.GetName(), "err", err)
		}
	}
}
