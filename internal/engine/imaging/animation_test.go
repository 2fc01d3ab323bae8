package imaging_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// The animated fixtures: 10 frames of 160x90 panning across a photograph,
// 60 ms each, played 3 times.
const (
	animFrames = 10
	animDelay  = 60
	animLoop   = 3
)

// scaleFrame scales one frame of an animation to w x h (a reference).
func scaleFrame(t *testing.T, anim []byte, i, w, h int) []byte {
	t.Helper()
	return reference(t, imagetest.Frame(t, anim, i), w, h, vips.InterestingNone, vips.SizeForce)
}

func checkAnimation(t *testing.T, out imaging.Output, src []byte, w, h int) {
	t.Helper()
	n, delays, loop := imagetest.Animation(t, out.Data)
	if n != animFrames || out.Frames != animFrames {
		t.Fatalf("%s: %d frames (Output says %d), want %d: the animation was flattened", out.Name, n, out.Frames, animFrames)
	}
	for i, d := range delays {
		if d != animDelay {
			t.Errorf("%s: frame %d delay %d ms, want %d", out.Name, i, d, animDelay)
		}
	}
	if loop != animLoop {
		t.Errorf("%s: loop %d, want %d", out.Name, loop, animLoop)
	}
	if info := imagetest.Decode(t, out.Data); info.Width != w || info.PageHeight != h || out.Width != w || out.Height != h {
		t.Errorf("%s: frames %dx%d (Output %dx%d), want %dx%d", out.Name, info.Width, info.PageHeight, out.Width, out.Height, w, h)
	}
	// Every frame is the matching source frame, in order.
	for _, i := range []int{0, 4, 9} {
		got := imagetest.PHash(t, imagetest.Frame(t, out.Data, i))
		if d := imagetest.Distance(got, imagetest.PHash(t, scaleFrame(t, src, i, w, h))); d > maxSame+2 {
			t.Errorf("%s: frame %d is %d from source frame %d", out.Name, i, d, i)
		}
	}
	first, last := imagetest.PHash(t, imagetest.Frame(t, out.Data, 0)), imagetest.PHash(t, imagetest.Frame(t, out.Data, 9))
	if imagetest.Distance(first, last) <= 2*maxSame {
		t.Errorf("%s: first and last frames look alike: frames repeated?", out.Name)
	}
}

func TestAnimationPreserved(t *testing.T) {
	for _, fx := range []string{"anim.gif", "anim.webp"} {
		src := imagetest.Fixture(t, fx)
		info, err := imaging.Probe(src, imaging.Limits{})
		if err != nil || info.Frames != animFrames || !info.Animated() || info.Width != 160 || info.Height != 90 {
			t.Fatalf("Probe(%s) = %+v, %v", fx, info, err)
		}
		for _, f := range []imaging.Format{imaging.FormatGIF, imaging.FormatWebP, imaging.FormatAuto} {
			t.Run(fx+"→"+string(f), func(t *testing.T) {
				res := process(t, src,
					imaging.Variant{Name: "same", Width: 160, Fit: imaging.FitInside, Format: f, StripMetadata: true},
					imaging.Variant{Name: "half", Width: 80, Fit: imaging.FitInside, Format: f, StripMetadata: true},
					imaging.Variant{Name: "square", Width: 60, Height: 60, Fit: imaging.FitCover, Format: f, StripMetadata: true},
					imaging.Variant{Name: "padded", Width: 100, Height: 100, Fit: imaging.FitContain, Format: f, StripMetadata: true, Background: [4]uint8{255, 0, 0, 255}},
				)
				if res.Source.Frames != animFrames {
					t.Errorf("Source.Frames = %d", res.Source.Frames)
				}
				want := f
				if f == imaging.FormatAuto {
					want = imaging.FormatWebP // animations are WebP
				}
				for _, out := range res.Variants {
					if out.Format != want || string(imagetest.Decode(t, out.Data).Format) != string(want) {
						t.Errorf("%s: format %s, want %s", out.Name, out.Format, want)
					}
				}
				checkAnimation(t, res.Variants[0], src, 160, 90)
				checkAnimation(t, res.Variants[1], src, 80, 45)
				// Cover: each frame is the centre square of its source frame.
				sq := res.Variants[2]
				if n, _, _ := imagetest.Animation(t, sq.Data); n != animFrames {
					t.Fatalf("square: %d frames", n)
				}
				for _, i := range []int{0, 9} {
					ref := region(t, imagetest.Frame(t, src, i), 35, 0, 90, 90, 60, 60)
					if d := imagetest.Distance(imagetest.PHash(t, imagetest.Frame(t, sq.Data, i)), imagetest.PHash(t, ref)); d > maxSame+2 {
						t.Errorf("square frame %d: distance %d to the centre crop of source frame %d", i, d, i)
					}
				}
				// Contain pads every frame.
				pad := res.Variants[3]
				for _, i := range []int{0, 9} {
					fr := imagetest.Frame(t, pad.Data, i)
					if p := imagetest.Pixel(t, fr, 50, 2); !near(p[:3], 255, 0, 0) {
						t.Errorf("padded frame %d: top row %v, want the red padding", i, p)
					}
					if p := imagetest.Pixel(t, fr, 50, 50); near(p[:3], 255, 0, 0) {
						t.Errorf("padded frame %d: the centre is padding", i)
					}
				}
			})
		}
	}
}

func TestAnimationStill(t *testing.T) {
	src := imagetest.Fixture(t, "anim.gif")
	frame0 := imagetest.PHash(t, scaleFrame(t, src, 0, 80, 45))
	var decodes [][2]int
	restore := imaging.SetDecodeHook(func(w, h int) { decodes = append(decodes, [2]int{w, h}) })
	defer restore()
	res := process(t, src,
		imaging.Variant{Name: "jpeg", Width: 80, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true},
		imaging.Variant{Name: "png", Width: 80, Fit: imaging.FitInside, Format: imaging.FormatPNG, StripMetadata: true},
		imaging.Variant{Name: "avif", Width: 80, Fit: imaging.FitInside, Format: imaging.FormatAVIF, StripMetadata: true},
		imaging.Variant{Name: "still-webp", Width: 80, Fit: imaging.FitInside, Format: imaging.FormatWebP, Still: true, StripMetadata: true},
		imaging.Variant{Name: "still-gif", Width: 80, Fit: imaging.FitInside, Format: imaging.FormatGIF, Still: true, StripMetadata: true},
	)
	if len(decodes) != 1 || decodes[0] != [2]int{80, 45} {
		t.Errorf("decodes %v: want one, of the first frame only, shrunk to 80x45", decodes)
	}
	for _, out := range res.Variants {
		if n, _, _ := imagetest.Animation(t, out.Data); n != 1 || out.Frames != 1 {
			t.Errorf("%s: %d frames (Output %d), want the first frame only", out.Name, n, out.Frames)
		}
		checkOutput(t, out, out.Format, 80, 45)
		if d := imagetest.Distance(imagetest.PHash(t, out.Data), frame0); d > maxSame {
			t.Errorf("%s: distance %d to the first frame", out.Name, d)
		}
	}
}

func TestAnimationSmartCropIsSteady(t *testing.T) {
	src := imagetest.Fixture(t, "anim.webp")
	for _, g := range []imaging.Gravity{imaging.GravitySmartAttention, imaging.GravitySmartEntropy} {
		out := processOne(t, src, imaging.Variant{Width: 60, Height: 60, Fit: imaging.FitCover, Gravity: g, Format: imaging.FormatWebP, StripMetadata: true})
		if out.Frames != animFrames {
			t.Fatalf("%d frames", out.Frames)
		}
		// Find the window of frame 0 (a 90x90 square of the 160x90 frame),
		// then every frame must show that same window of its source frame.
		best, bestD := 0, 65
		h0 := imagetest.PHash(t, imagetest.Frame(t, out.Data, 0))
		for x := 0; x <= 70; x += 5 {
			if d := imagetest.Distance(h0, imagetest.PHash(t, region(t, imagetest.Frame(t, src, 0), x, 0, 90, 90, 60, 60))); d < bestD {
				best, bestD = x, d
			}
		}
		if bestD > maxSame {
			t.Fatalf("gravity %d: frame 0 matches no window (best distance %d)", g, bestD)
		}
		for _, i := range []int{3, 6, 9} {
			ref := region(t, imagetest.Frame(t, src, i), best, 0, 90, 90, 60, 60)
			if d := imagetest.Distance(imagetest.PHash(t, imagetest.Frame(t, out.Data, i)), imagetest.PHash(t, ref)); d > maxSame+2 {
				t.Errorf("gravity %d: frame %d is %d from window x=%d of its source frame: the crop moved", g, i, d, best)
			}
		}
	}
}

func TestAnimationLimits(t *testing.T) {
	src := imagetest.Fixture(t, "anim.gif")
	v := []imaging.Variant{{Name: "v", Width: 80, Fit: imaging.FitInside, Format: imaging.FormatWebP, StripMetadata: true}}
	cases := []struct {
		lim  imaging.Limits
		code string
	}{
		{imaging.Limits{MaxFrames: 9}, imaging.CodeTooManyFrames},
		{imaging.Limits{MaxFrames: 10}, ""},
		{imaging.Limits{MaxTotalPixels: 160 * 90 * 9}, imaging.CodeTooManyPixels},
		// The decoded frames (80x45 each) must fit in MaxPixels.
		{imaging.Limits{MaxPixels: 80*45*10 - 1}, imaging.CodeTooManyPixels},
		{imaging.Limits{MaxPixels: 80 * 45 * 10}, ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c.lim), func(t *testing.T) {
			res, err := imaging.Process(context.Background(), src, v, c.lim)
			if c.code == "" {
				if err != nil || res.Variants[0].Frames != animFrames {
					t.Fatalf("err %v", err)
				}
				return
			}
			var ie *imaging.Error
			if !errors.As(err, &ie) || ie.Code != c.code {
				t.Fatalf("err = %v, want %s", err, c.code)
			}
			if ie.Code == imaging.CodeTooManyFrames && ie.Error() != "the animation has 10 frames; the maximum is 9" {
				t.Errorf("message %q", ie.Error())
			}
		})
	}
	// The frame limit applies even when only a still is asked for: an
	// animation is never flattened to get under it.
	still := []imaging.Variant{{Name: "v", Width: 80, Fit: imaging.FitInside, Format: imaging.FormatJPEG, StripMetadata: true}}
	if _, err := imaging.Process(context.Background(), src, still, imaging.Limits{MaxFrames: 5}); !errors.Is(err, imaging.ErrTooManyFrames) {
		t.Errorf("still of a 10-frame GIF with MaxFrames 5: %v", err)
	}
}

func TestAnimationWatermarkAndEffects(t *testing.T) {
	src := imagetest.Fixture(t, "anim.gif")
	out := processOne(t, src, imaging.Variant{Width: 160, Fit: imaging.FitInside, Format: imaging.FormatWebP, StripMetadata: true,
		Blur: 0.5, Watermark: &imaging.Watermark{Image: logo(t), Position: imaging.GravityNorthWest, RelativeWidth: 0.3}})
	if out.Frames != animFrames {
		t.Fatalf("%d frames", out.Frames)
	}
	for _, i := range []int{0, 9} {
		plain := rgba(t, scaleFrame(t, src, i, 160, 90))
		got := rgba(t, imagetest.Frame(t, out.Data, i))
		box, _ := changed(plain, got, 40)
		if box.Empty() || box.Min.X > 4 || box.Min.Y > 4 || box.Max.X > 60 {
			t.Errorf("frame %d: watermark at %v, want in the top-left 48x32", i, box)
		}
	}
}
