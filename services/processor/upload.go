package processor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/sniff"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
)

// uploadInfo is what the processor learns about a directly uploaded
// original, which no ingest service saw.
type uploadInfo struct {
	Bytes  int64
	Sha256 string
	Format pb.Format
}

// admitUpload applies to a direct upload (presigned PUT) the checks ingest
// applies to a streamed one: size limit (readOriginal refuses a larger
// object before reading it; this catches an object that grew meanwhile)
// and format by magic bytes, as permanent failures. For other images it
// returns nil, nil.
func (p *Processor) admitUpload(img *pb.Image, src []byte) (*uploadInfo, error) {
	if !img.GetOriginal().GetDirectUpload() {
		return nil, nil
	}
	if int64(len(src)) > p.cfg.MaxOriginalBytes {
		return nil, p.tooLarge()
	}
	format := spec.SourceFormat(sniff.Detect(src[:min(len(src), sniff.HeaderLen)]))
	if format == pb.Format_FORMAT_UNSPECIFIED {
		return nil, imaging.ErrUnsupportedFormat
	}
	sum := sha256.Sum256(src)
	return &uploadInfo{Bytes: int64(len(src)), Sha256: hex.EncodeToString(sum[:]), Format: format}, nil
}

// tooLarge is the permanent failure of an original over MaxOriginalBytes.
func (p *Processor) tooLarge() error {
	return &imaging.Error{Code: failure.TooLarge, Msg: fmt.Sprintf("the upload is larger than the %d-byte limit", p.cfg.MaxOriginalBytes)}
}
