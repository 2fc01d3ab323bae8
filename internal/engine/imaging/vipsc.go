package imaging

// The few libvips calls govips v2.16.0 does not wrap, made on the VipsImage
// inside a govips ImageRef.

/*
#cgo pkg-config: vips
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vips/vips.h>

// copy_memory evaluates in into one block of memory (libvips' own
// allocation, not the Go heap), with libvips' threads; *out is a
// random-access image with all of in's metadata.
// An image already in memory comes back as itself (one more reference):
// then a vips_copy, so the result is always a new image whose metadata can
// change on its own.
static int copy_memory(VipsImage *in, VipsImage **out) {
	VipsImage *m = vips_image_copy_memory(in);
	if (m == NULL)
		return -1;
	if (m != in) {
		*out = m;
		return 0;
	}
	int err = vips_copy(m, out, NULL);
	g_object_unref(m);
	return err;
}

static void unref(VipsImage *im) { g_object_unref(im); }

// new_source: a VipsSource over len bytes at buf, read in place (buf must
// stay put while anything reads it), or, when buf is NULL, over a
// duplicate of descriptor fd, rewound to its start. A duplicate shares
// fd's file offset: one source of a file is read at a time.
static VipsSource *new_source(const void *buf, size_t len, int fd) {
	if (buf != NULL)
		return vips_source_new_from_memory(buf, len);
	if (lseek(fd, 0, SEEK_SET) == -1) {
		vips_error("imaging", "seek the original: %s", strerror(errno));
		return NULL;
	}
	return vips_source_new_from_descriptor(fd);
}

static void unref_source(VipsSource *s) { g_object_unref(s); }

// load_source: the loader libvips picks for s, with options ("fail=true",
// "shrink=2", …); lazy: the header is read now, pixels on demand.
static int load_source(VipsSource *s, const char *options, VipsImage **out) {
	*out = vips_image_new_from_source(s, options, NULL);
	return *out == NULL ? -1 : 0;
}

// thumbnail_source: vips_thumbnail of s fitted within w x h, never
// enlarged, with loader options.
static int thumbnail_source(VipsSource *s, int w, int h, const char *options, VipsImage **out) {
	return vips_thumbnail_source(s, out, w, "height", h, "size", VIPS_SIZE_DOWN,
		"option_string", options, NULL);
}

// jpeg_fit: the JPEG loader with libjpeg's shrink-on-load (1, 2, 4, 8),
// sequential, failing on any warning, then a Lanczos3 resize to fit within
// w x h (per-axis scales that land on whole pixels, as vips_thumbnail's
// do). A lazy pipeline over s.
static int jpeg_fit(VipsSource *s, int shrink, int w, int h, VipsImage **out) {
	VipsImage *t;
	if (vips_jpegload_source(s, &t, "shrink", shrink, "fail_on", VIPS_FAIL_ON_WARNING,
			"access", VIPS_ACCESS_SEQUENTIAL, NULL))
		return -1;
	double sc = VIPS_MIN(1.0, VIPS_MIN((double) w / t->Xsize, (double) h / t->Ysize));
	double hs = VIPS_MAX(1, rint(t->Xsize * sc)) / t->Xsize;
	double vs = VIPS_MAX(1, rint(t->Ysize * sc)) / t->Ysize;
	if (hs < 1.0 || vs < 1.0) {
		VipsImage *r;
		int err = vips_resize(t, &r, hs, "vscale", vs, "kernel", VIPS_KERNEL_LANCZOS3, NULL);
		g_object_unref(t);
		if (err)
			return -1;
		t = r;
	}
	*out = t;
	return 0;
}

static void remove_field(VipsImage *im, const char *name) { vips_image_remove(im, name); }

// from_pixels copies h rows of w x bands 8-bit sRGB pixels, stride bytes
// apart, into a new memory image, tagged with icc (copied) when icc_len > 0.
static int from_pixels(const void *pix, int w, int h, int bands, int stride,
		const void *icc, size_t icc_len, const char *loader, VipsImage **out) {
	VipsImage *im = vips_image_new_memory();
	vips_image_init_fields(im, w, h, bands, VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
		VIPS_INTERPRETATION_sRGB, 1.0, 1.0);
	if (vips_image_write_prepare(im)) {
		g_object_unref(im);
		return -1;
	}
	for (int y = 0; y < h; y++)
		memcpy(VIPS_IMAGE_ADDR(im, 0, y), (const unsigned char *) pix + (size_t) y * stride, (size_t) w * bands);
	if (icc_len > 0)
		vips_image_set_blob_copy(im, VIPS_META_ICC_NAME, icc, icc_len);
	vips_image_set_string(im, "vips-loader", loader);
	*out = im;
	return 0;
}
*/
import "C"

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"unsafe"

	"github.com/davidbyttow/govips/v2/vips"
)

// imageOffset is where govips' ImageRef keeps its *C.VipsImage. govips does
// not export it; the field is found by name and type once, so a govips
// upgrade that changes the struct fails loudly at start-up (and in
// TestVipsBridge) rather than corrupting memory.
var imageOffset = func() uintptr {
	f, ok := reflect.TypeOf(vips.ImageRef{}).FieldByName("image")
	if !ok || f.Type.Kind() != reflect.Pointer || f.Type.Elem().Name() != "_Ctype_struct__VipsImage" {
		panic("imaging: govips' ImageRef has no image *C.VipsImage field; update vipsc.go for this govips version")
	}
	return f.Offset
}()

// cImage is the VipsImage img wraps (borrowed: img keeps its reference).
func cImage(img *vips.ImageRef) *C.VipsImage {
	return *(**C.VipsImage)(unsafe.Add(unsafe.Pointer(img), imageOffset))
}

// adopt returns a new ImageRef that owns im (its one reference). like is
// any live ImageRef: govips can only make new refs by copying one.
func adopt(like *vips.ImageRef, im *C.VipsImage) (*vips.ImageRef, error) {
	r, err := like.Copy()
	if err != nil {
		C.unref(im)
		return nil, err
	}
	slot := (**C.VipsImage)(unsafe.Add(unsafe.Pointer(r), imageOffset))
	old := *slot
	*slot = im
	C.unref(old)
	return r, nil
}

// fromPixels makes a libvips memory image of h rows of w x bands 8-bit
// sRGB pixels at pix (C memory), stride bytes apart, tagged with icc when
// it is not empty, with "vips-loader" set to loader.
func fromPixels(pix unsafe.Pointer, w, h, bands, stride int, icc []byte, loader string) (*vips.ImageRef, error) {
	if pix == nil || w <= 0 || h <= 0 || bands < 1 || stride < w*bands {
		return nil, errors.New("imaging: bad pixel buffer")
	}
	cl := C.CString(loader)
	defer C.free(unsafe.Pointer(cl))
	var iccp unsafe.Pointer
	if len(icc) > 0 {
		iccp = C.CBytes(icc)
		defer C.free(iccp)
	}
	var out *C.VipsImage
	if C.from_pixels(pix, C.int(w), C.int(h), C.int(bands), C.int(stride), iccp, C.size_t(len(icc)), cl, &out) != 0 {
		return nil, vipsError()
	}
	return newRef(out)
}

// newRef wraps im (taking its one reference) in a new ImageRef.
func newRef(im *C.VipsImage) (*vips.ImageRef, error) {
	// A placeholder to copy: govips makes refs only from loads and copies.
	like, err := vips.Black(1, 1)
	if err != nil {
		C.unref(im)
		return nil, err
	}
	defer like.Close()
	return adopt(like, im)
}

// copyMemory evaluates img (typically a read-once pipeline over a
// sequential loader: this is where a source's pixels are decoded) into
// memory and returns a random-access image over it, with img's metadata.
// Unlike an encode/decode round trip (TIFF), it is one copy, outside the Go
// heap, and keeps every metadata field, EXIF included.
func copyMemory(img *vips.ImageRef) (*vips.ImageRef, error) {
	var out *C.VipsImage
	rc := C.copy_memory(cImage(img), &out)
	runtime.KeepAlive(img) // govips' finalizer must not free it mid-call
	if rc != 0 {
		return nil, vipsError()
	}
	return adopt(img, out)
}

// removeField removes one metadata field of img (no-op when absent).
func removeField(img *vips.ImageRef, name string) {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	C.remove_field(cImage(img), c)
	runtime.KeepAlive(img)
}

// vipsSource opens a new libvips source over s (new_source), which the
// caller unrefs once it has loaded from it (a loaded image keeps its own
// reference). For a source in memory, pin keeps the bytes in place until
// the caller unpins it, once libvips is done with every image loaded from
// it.
func (s *source) vipsSource(pin *runtime.Pinner) (*C.VipsSource, error) {
	var vs *C.VipsSource
	if s.file != nil {
		vs = C.new_source(nil, 0, C.int(s.file.Fd()))
		runtime.KeepAlive(s.file)
	} else {
		pin.Pin(unsafe.SliceData(s.mem))
		vs = C.new_source(unsafe.Pointer(unsafe.SliceData(s.mem)), C.size_t(len(s.mem)), -1)
	}
	if vs == nil {
		return nil, vipsError()
	}
	return vs, nil
}

// loadSource loads s with the loader libvips picks for it and loader
// options (see load_source): a lazy image over s.
func loadSource(s *source, options string, pin *runtime.Pinner) (*vips.ImageRef, error) {
	return fromSource(s, pin, func(vs *C.VipsSource, out **C.VipsImage) C.int {
		opts := C.CString(options)
		defer C.free(unsafe.Pointer(opts))
		return C.load_source(vs, opts, out)
	})
}

// thumbnailSource is vips_thumbnail of s fitted within w x h, never
// enlarged, with loader options: a lazy, read-once pipeline over s.
func thumbnailSource(s *source, w, h int, options string, pin *runtime.Pinner) (*vips.ImageRef, error) {
	return fromSource(s, pin, func(vs *C.VipsSource, out **C.VipsImage) C.int {
		opts := C.CString(options)
		defer C.free(unsafe.Pointer(opts))
		return C.thumbnail_source(vs, C.int(w), C.int(h), opts, out)
	})
}

// jpegFit loads a JPEG with shrink-on-load and resizes it to fit within
// w x h (never enlarging): vips_thumbnail's work for an upright JPEG
// without its overheads. The result is a lazy, read-once pipeline over s.
func jpegFit(s *source, srcW, srcH, w, h int, pin *runtime.Pinner) (*vips.ImageRef, error) {
	shrink := jpegShrink(srcW, srcH, w, h)
	return fromSource(s, pin, func(vs *C.VipsSource, out **C.VipsImage) C.int {
		return C.jpeg_fit(vs, C.int(shrink), C.int(w), C.int(h), out)
	})
}

// fromSource runs load on a new libvips source over s and wraps the image
// it makes.
func fromSource(s *source, pin *runtime.Pinner, load func(*C.VipsSource, **C.VipsImage) C.int) (*vips.ImageRef, error) {
	vs, err := s.vipsSource(pin)
	if err != nil {
		return nil, err
	}
	var out *C.VipsImage
	rc := load(vs, &out)
	C.unref_source(vs)
	if rc != 0 {
		return nil, vipsError()
	}
	return newRef(out)
}

// jpegShrink is the largest libjpeg shrink-on-load factor (1, 2, 4, 8) that
// keeps a w x h JPEG at least bw x bh (libvips floors the scaled size).
func jpegShrink(w, h, bw, bh int) int {
	shrink := 1
	for shrink < 8 && w/(shrink*2) >= bw && h/(shrink*2) >= bh {
		shrink *= 2
	}
	return shrink
}

// vipsError takes libvips' error buffer (as govips does) into an error.
func vipsError() error {
	s := strings.TrimSpace(C.GoString(C.vips_error_buffer()))
	C.vips_error_clear()
	if s == "" {
		s = "libvips failed without a message"
	}
	return errors.New(s)
}
