package imaging

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/imagepipe/imagepipe/internal/engine/phash"

	"github.com/davidbyttow/govips/v2/vips"
)

// extrasSize is the side of the small copy the extras are computed from.
const extrasSize = 64

// extras computes the BlurHash, dominant colour and perceptual hash of the
// decoded image's first frame, as displayed (sRGB, alpha over white).
func extras(d *decoded) (Extras, error) {
	img, err := extrasSquare(d)
	if img != nil {
		defer img.Close()
	}
	if err != nil {
		return Extras{}, err
	}
	rgb, err := displayedRGB(img, d.device)
	if err != nil {
		return Extras{}, err
	}
	grey, err := greyscale32(img)
	if err != nil {
		return Extras{}, err
	}
	return Extras{
		BlurHash:      blurHash(rgb, extrasSize, extrasSize, 4, 3),
		DominantColor: dominantColor(rgb),
		PHash:         greyPHash(grey),
	}, nil
}

// extrasSquare returns the first frame squashed to extrasSize x extrasSize:
// BlurHash and pHash describe the picture, not its aspect ratio (BlurHash's
// component counts carry no size either). The image may be non-nil with an
// error; the caller closes it.
func extrasSquare(d *decoded) (*vips.ImageRef, error) {
	img, err := d.shrunk(extrasSize, extrasSize)
	if err == nil && img == nil {
		if img, err = d.frame(0); err == nil {
			err = img.ThumbnailWithSize(extrasSize, extrasSize, vips.InterestingNone, vips.SizeForce)
		}
	}
	return img, err
}

// displayedRGB turns img (extrasSize square) into what is displayed: sRGB
// (from the device space when device), alpha flattened over white, 8 bits;
// and returns its packed RGB pixels.
func displayedRGB(img *vips.ImageRef, device bool) ([]byte, error) {
	if device {
		if err := img.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
			return nil, err
		}
	}
	if img.HasAlpha() {
		if err := img.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
			return nil, err
		}
	}
	if err := toUchar(img); err != nil {
		return nil, err
	}
	if img.Width() != extrasSize || img.Height() != extrasSize || img.Bands() != 3 {
		return nil, fmt.Errorf("extras: reduced to %dx%dx%d", img.Width(), img.Height(), img.Bands())
	}
	rgb, err := img.ToBytes()
	if err != nil {
		return nil, err
	}
	if len(rgb) != extrasSize*extrasSize*3 {
		return nil, errors.New("extras: unexpected pixel layout")
	}
	return rgb, nil
}

// greyscale32 turns img (displayed RGB, extrasSize square) into 32x32 8-bit
// grey the way imagetest.PHash does (libvips' B_W conversion), and returns
// its pixels.
func greyscale32(img *vips.ImageRef) ([]byte, error) {
	if err := img.ToColorSpace(vips.InterpretationBW); err != nil {
		return nil, err
	}
	if err := img.Resize(0.5, vips.KernelLanczos3); err != nil {
		return nil, err
	}
	if err := toUchar(img); err != nil {
		return nil, err
	}
	if img.Bands() > 1 {
		if err := img.ExtractBand(0, 1); err != nil {
			return nil, err
		}
	}
	grey, err := img.ToBytes()
	if err != nil {
		return nil, err
	}
	if len(grey) != 32*32 {
		return nil, fmt.Errorf("extras: greyscale is %d bytes", len(grey))
	}
	return grey, nil
}

// greyPHash is the perceptual hash of 32x32 grey pixels.
func greyPHash(grey []byte) uint64 {
	var px [32][32]float64
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			px[y][x] = float64(grey[y*32+x])
		}
	}
	return phash.DCT(&px)
}

// dominantColor returns the mean colour of the most populated cell of a
// 16x16x16 histogram of packed RGB pixels, as "#rrggbb". Ties go to the
// lowest cell index, so the result is deterministic.
func dominantColor(rgb []byte) string {
	var count [4096]int
	var sum [4096][3]int
	for i := 0; i+2 < len(rgb); i += 3 {
		c := int(rgb[i]>>4)<<8 | int(rgb[i+1]>>4)<<4 | int(rgb[i+2]>>4)
		count[c]++
		sum[c][0] += int(rgb[i])
		sum[c][1] += int(rgb[i+1])
		sum[c][2] += int(rgb[i+2])
	}
	best := 0
	for c := range count {
		if count[c] > count[best] {
			best = c
		}
	}
	n := max(count[best], 1)
	return fmt.Sprintf("#%02x%02x%02x", (sum[best][0]+n/2)/n, (sum[best][1]+n/2)/n, (sum[best][2]+n/2)/n)
}

// blurHash encodes packed sRGB pixels (w x h) with cx x cy components, per
// the reference algorithm (https://github.com/woltapp/blurhash).
func blurHash(rgb []byte, w, h, cx, cy int) string {
	var lin [256]float64
	for i := range lin {
		lin[i] = srgbToLinear(i)
	}
	factors := make([][3]float64, 0, cx*cy)
	for j := 0; j < cy; j++ {
		for i := 0; i < cx; i++ {
			norm := 2.0
			if i == 0 && j == 0 {
				norm = 1
			}
			var f [3]float64
			for y := 0; y < h; y++ {
				by := math.Cos(math.Pi * float64(j) * float64(y) / float64(h))
				for x := 0; x < w; x++ {
					b := by * math.Cos(math.Pi*float64(i)*float64(x)/float64(w))
					p := (y*w + x) * 3
					f[0] += b * lin[rgb[p]]
					f[1] += b * lin[rgb[p+1]]
					f[2] += b * lin[rgb[p+2]]
				}
			}
			scale := norm / float64(w*h)
			factors = append(factors, [3]float64{f[0] * scale, f[1] * scale, f[2] * scale})
		}
	}

	var sb strings.Builder
	sb.WriteString(base83((cx-1)+(cy-1)*9, 1))
	maxAC := 0.0
	for _, f := range factors[1:] {
		maxAC = math.Max(maxAC, math.Max(math.Abs(f[0]), math.Max(math.Abs(f[1]), math.Abs(f[2]))))
	}
	quantMax := 0
	if len(factors) > 1 {
		quantMax = clamp(int(math.Floor(maxAC*166-0.5)), 0, 82)
		maxAC = float64(quantMax+1) / 166
		sb.WriteString(base83(quantMax, 1))
	} else {
		maxAC = 1
		sb.WriteString(base83(0, 1))
	}
	dc := factors[0]
	sb.WriteString(base83(linearToSRGB(dc[0])<<16|linearToSRGB(dc[1])<<8|linearToSRGB(dc[2]), 4))
	for _, f := range factors[1:] {
		q := func(v float64) int {
			return clamp(int(math.Floor(signPow(v/maxAC, 0.5)*9+9.5)), 0, 18)
		}
		sb.WriteString(base83(q(f[0])*19*19+q(f[1])*19+q(f[2]), 2))
	}
	return sb.String()
}

func srgbToLinear(v int) float64 {
	x := float64(v) / 255
	if x <= 0.04045 {
		return x / 12.92
	}
	return math.Pow((x+0.055)/1.055, 2.4)
}

func linearToSRGB(v float64) int {
	x := math.Max(0, math.Min(1, v))
	if x <= 0.0031308 {
		return int(x*12.92*255 + 0.5)
	}
	return int((1.055*math.Pow(x, 1/2.4)-0.055)*255 + 0.5)
}

func signPow(v, exp float64) float64 { return math.Copysign(math.Pow(math.Abs(v), exp), v) }

const base83Chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

func base83(v, length int) string {
	b := make([]byte, length)
	for i := length - 1; i >= 0; i-- {
		b[i] = base83Chars[v%83]
		v /= 83
	}
	return string(b)
}
