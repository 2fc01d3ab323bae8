package processor

import (
	"context"
	"os"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
)

// Render runs the processing pipeline on an original's bytes: the stored
// spec validated against presets (which also resolve its watermarks),
// converted into imaging options, the limits tightened by the spec, one
// imaging.Process call. The workers (RenderFile) and `imagepipe process`
// both call it, so the command line runs exactly what the service runs.
func Render(ctx context.Context, presets *spec.Presets, s *pb.ProcessingSpec, src []byte, lim imaging.Limits) (*imaging.Result, error) {
	if err := validateSpec(presets, s); err != nil {
		return nil, err
	}
	return imaging.Process(ctx, src, presets.Variants(s), spec.Limits(s, lim))
}

// RenderFile is Render of the original in f, which libvips reads from the
// file (imaging.ProcessFile): the workers never hold a whole original in
// the Go heap.
func RenderFile(ctx context.Context, presets *spec.Presets, s *pb.ProcessingSpec, f *os.File, lim imaging.Limits) (*imaging.Result, error) {
	if err := validateSpec(presets, s); err != nil {
		return nil, err
	}
	return imaging.ProcessFile(ctx, f, presets.Variants(s), spec.Limits(s, lim))
}

func validateSpec(presets *spec.Presets, s *pb.ProcessingSpec) error {
	if err := presets.Validate("spec", s); err != nil {
		return &imaging.Error{Code: failure.InvalidSpec, Msg: "the image's processing spec is invalid"}
	}
	return nil
}
