package phash_test

import (
	"math"
	"testing"

	"github.com/imagepipe/imagepipe/internal/engine/phash"
)

func gradient(fx, fy float64) *[32][32]float64 {
	var in [32][32]float64
	for y := range 32 {
		for x := range 32 {
			in[y][x] = 128 + 100*math.Sin(fx*float64(x)/32)*math.Cos(fy*float64(y)/32)
		}
	}
	return &in
}

func TestDCT(t *testing.T) {
	a := phash.DCT(gradient(3, 2))
	brighter := gradient(3, 2)
	for y := range 32 {
		for x := range 32 {
			brighter[y][x] = brighter[y][x]*0.9 + 20 // same picture, other exposure
		}
	}
	if d := phash.Distance(a, phash.DCT(brighter)); d > 4 {
		t.Errorf("same picture, other exposure: distance %d, want <= 4", d)
	}
	if d := phash.Distance(a, phash.DCT(gradient(7, 9))); d < 16 {
		t.Errorf("different pictures: distance %d, want >= 16", d)
	}
	if phash.Distance(a, a) != 0 || phash.Distance(0, ^uint64(0)) != 64 {
		t.Error("Distance is not a Hamming distance")
	}
}
