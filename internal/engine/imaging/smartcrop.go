package imaging

import (
	"bytes"
	"errors"

	"github.com/davidbyttow/govips/v2/vips"
)

func interesting(g Gravity) vips.Interesting {
	if g == GravitySmartEntropy {
		return vips.InterestingEntropy
	}
	return vips.InterestingAttention
}

// smartCropWindow runs libvips' smart crop on a copy of f and returns where
// the chosen window lies in f. govips does not expose smartcrop's position,
// so the window is found by matching its pixels (an exact copy) against f.
func smartCropWindow(f *vips.ImageRef, cw, ch int, mode vips.Interesting) ([2]int, error) {
	c, err := f.Copy()
	if err != nil {
		return [2]int{}, err
	}
	defer c.Close()
	if err := c.SmartCrop(cw, ch, mode); err != nil {
		return [2]int{}, err
	}
	full, err := f.ToBytes()
	if err != nil {
		return [2]int{}, err
	}
	win, err := c.ToBytes()
	if err != nil {
		return [2]int{}, err
	}
	bands := f.Bands()
	fw, fh := f.Width(), f.Height()
	if len(full) != fw*fh*bands || len(win) != cw*ch*bands {
		return [2]int{}, errors.New("smart crop: unexpected pixel layout")
	}
	if x, y, ok := findWindow(full, fw, fh, win, cw, ch, bands); ok {
		return [2]int{x, y}, nil
	}
	return [2]int{}, errors.New("smart crop: window not found")
}

// findWindow returns the top-left corner of the first place (row by row)
// where the cw x ch pixels win stand in the fw x fh pixels full.
func findWindow(full []byte, fw, fh int, win []byte, cw, ch, bands int) (x, y int, ok bool) {
	row := cw * bands
	for y := 0; y+ch <= fh; y++ {
	next:
		for x := 0; x+cw <= fw; x++ {
			for r := 0; r < ch; r++ {
				off := ((y+r)*fw + x) * bands
				if !bytes.Equal(full[off:off+row], win[r*row:(r+1)*row]) {
					continue next
				}
			}
			return x, y, true
		}
	}
	return 0, 0, false
}
