package imaging_test

import (
	"context"
	"errors"
	"testing"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// Process refuses an enlargement past the limit from the header, before
// anything is decoded.
func TestUpscaleLimitBeforeDecoding(t *testing.T) {
	decoded := false
	restore := imaging.SetDecodeHook(func(int, int) { decoded = true })
	defer restore()
	src := imagetest.Fixture(t, "coffee.png") // 600x400
	_, err := imaging.Process(context.Background(), src, []imaging.Variant{{Name: "huge", Width: 2401, Fit: imaging.FitInside, Format: imaging.FormatPNG, AllowUpscale: true}}, imaging.Limits{})
	if !errors.Is(err, imaging.ErrUpscaleTooLarge) || decoded {
		t.Errorf("Process = %v (decoded: %v), want %s before decoding", err, decoded, imaging.CodeUpscaleTooLarge)
	}
	res, err := imaging.Process(context.Background(), src, []imaging.Variant{{Name: "4x", Width: 2400, Fit: imaging.FitInside, Format: imaging.FormatJPEG, AllowUpscale: true}}, imaging.Limits{})
	if err != nil || res.Variants[0].Width != 2400 || res.Variants[0].Height != 1600 {
		t.Errorf("4x: %v, %v", res, err)
	}
}
