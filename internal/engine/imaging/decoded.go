package imaging

import "github.com/davidbyttow/govips/v2/vips"

// decoded is the source decoded once, from which every variant is derived.
type decoded struct {
	img *vips.ImageRef // in memory; all frames stacked vertically when frames > 1
	// frames, pageHeight: the frames in img and the height of one.
	frames, pageHeight int
	delays             []int // per frame, in ms
	loop               int   // 0 = forever
	// device: the pixels are in the source's own RGB colour space with its
	// ICC profile attached (some variant keeps the profile); otherwise sRGB.
	device bool
	// sx, sy: size of the decoded image relative to the upright source.
	sx, sy float64
	lim    Limits
}

func (d *decoded) close() { d.img.Close() }

// width and height of one frame.
func (d *decoded) width() int  { return d.img.Width() }
func (d *decoded) height() int { return d.pageHeight }

// frame returns a new image of frame i.
func (d *decoded) frame(i int) (*vips.ImageRef, error) {
	f, err := d.img.Copy()
	if err != nil {
		return nil, err
	}
	if d.frames > 1 {
		if err := f.ExtractArea(0, i*d.pageHeight, d.img.Width(), d.pageHeight); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// shrinkViaThumbnail is the scale below which shrunk copies are made by
// vips_thumbnail with line caches rather than by the variant's own
// vips_resize. The decoded image is random access, for which vips_resize
// adds no line caches and recomputes the box-shrunk lines its Lanczos
// kernel overlaps: about 3x slower for strong reductions (27 ms against
// 8 ms for 1600x900 to 64x64 here). For mild reductions vips_resize is a
// little faster.
const shrinkViaThumbnail = 0.4

// shrunk returns a new copy of the (single-frame) decoded image resized to
// w x h, or nil when the reduction is too mild for the fast path (see
// shrinkViaThumbnail). Like the decoded image, it is evaluated into memory
// (it is small), so it can be read more than once (smart crop, FormatAuto,
// MaxBytes). It carries the metadata of the decoded image.
func (d *decoded) shrunk(w, h int) (*vips.ImageRef, error) {
	if d.frames > 1 || float64(w) > shrinkViaThumbnail*float64(d.img.Width()) || float64(h) > shrinkViaThumbnail*float64(d.img.Height()) {
		return nil, nil
	}
	t, err := d.img.Copy()
	if err != nil {
		return nil, err
	}
	defer t.Close()
	// What a sequential loader sets: vips_shrinkv and vips_reducev then add
	// the line caches that make a strong reduction cheap. The source is in
	// memory, so the caches only save recomputation.
	t.SetInt(metaSequential, 1)
	if err := t.ThumbnailWithSize(w, h, vips.InterestingNone, vips.SizeForce); err != nil {
		return nil, err
	}
	f, err := copyMemory(t)
	if err != nil {
		return nil, err
	}
	removeField(f, metaSequential)
	if err := exactSize(f, w, h); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// metaSequential is libvips' VIPS_META_SEQUENTIAL.
const metaSequential = "vips-sequential"
