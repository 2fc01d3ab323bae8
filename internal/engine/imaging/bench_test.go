package imaging_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// go test -run XXX -bench . ./internal/imaging
//
// Besides ns/op, each benchmark reports the median time of the decode
// (probe + decode + extras are not included in the variants) and of each
// variant (render + encode), in ms. par-1 renders the variants one after
// the other, par-N N at once (Config.Parallelism).
func BenchmarkProcessDefaultPreset(b *testing.B) {
	for _, fx := range []string{landscapeJPEG, orient6JPEG, photoPNG} {
		src := imagetest.Fixture(b, fx)
		for _, par := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/par-%d", fx, par), func(b *testing.B) {
				defer imaging.SetParallelism(par)()
				b.SetBytes(int64(len(src)))
				times := map[string][]time.Duration{}
				for i := 0; i < b.N; i++ {
					res, err := imaging.Process(context.Background(), src, defaultPreset(), imaging.Limits{})
					if err != nil {
						b.Fatal(err)
					}
					times["decode"] = append(times["decode"], res.Decode)
					for _, out := range res.Variants {
						times[out.Name] = append(times[out.Name], out.Elapsed)
					}
				}
				for name, d := range times {
					b.ReportMetric(median(d), name+"-ms")
				}
			})
		}
	}
}

func median(d []time.Duration) float64 {
	s := append([]time.Duration(nil), d...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return float64(s[len(s)/2].Microseconds()) / 1000
}
