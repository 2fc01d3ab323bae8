package imaging_test

import (
	"context"
	"testing"

	"github.com/imagepipe/imagepipe/internal/imagetest"
	"github.com/imagepipe/imagepipe/internal/imaging"
)

// go test -run XXX -bench . ./internal/imaging
func BenchmarkProcessDefaultPreset(b *testing.B) {
	for _, fx := range []string{landscapeJPEG, orient6JPEG, photoPNG} {
		src := imagetest.Fixture(b, fx)
		b.Run(fx, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for i := 0; i < b.N; i++ {
				if _, err := imaging.Process(context.Background(), src, defaultPreset(), imaging.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
