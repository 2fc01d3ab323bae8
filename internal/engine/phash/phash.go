// Package phash is the 64-bit DCT perceptual hash imagepipe stores on
// image records (imaging) and compares images by in tests (imagetest): the
// same picture at other sizes, encodings or qualities hashes within a few
// bits; different pictures differ in about half of them.
package phash

import (
	"math"
	"math/bits"
	"sort"
)

// DCT computes the 8x8 low-frequency block of the 32x32 DCT-II of a
// grayscale image and turns it into 64 bits (1 where the coefficient is
// above the median of the 63 AC coefficients).
func DCT(in *[32][32]float64) uint64 {
	const n = 32
	var cos [8][n]float64
	for u := 0; u < 8; u++ {
		for x := 0; x < n; x++ {
			cos[u][x] = math.Cos(float64(2*x+1) * float64(u) * math.Pi / (2 * n))
		}
	}
	var rows [n][8]float64
	for y := 0; y < n; y++ {
		for u := 0; u < 8; u++ {
			s := 0.0
			for x := 0; x < n; x++ {
				s += in[y][x] * cos[u][x]
			}
			rows[y][u] = s
		}
	}
	var coef [64]float64
	for v := 0; v < 8; v++ {
		for u := 0; u < 8; u++ {
			s := 0.0
			for y := 0; y < n; y++ {
				s += rows[y][u] * cos[v][y]
			}
			coef[v*8+u] = s
		}
	}
	ac := append([]float64(nil), coef[1:]...)
	sort.Float64s(ac)
	median := ac[len(ac)/2]
	var h uint64
	for i, c := range coef {
		if c > median {
			h |= 1 << uint(i)
		}
	}
	return h
}

// Distance is the Hamming distance between two hashes (0..64).
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }
