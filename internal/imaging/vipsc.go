package imaging

// The few libvips calls govips v2.16.0 does not wrap, made on the VipsImage
// inside a govips ImageRef.

/*
#cgo pkg-config: vips
#include <stdlib.h>
#include <vips/vips.h>

// copy_memory evaluates in into one block of memory (libvips' own
// allocation, not the Go heap), with libvips' threads; *out is a
// random-access image with all of in's metadata.
static int copy_memory(VipsImage *in, VipsImage **out) {
	*out = vips_image_copy_memory(in);
	return *out == NULL ? -1 : 0;
}

static void unref(VipsImage *im) { g_object_unref(im); }
static void remove_field(VipsImage *im, const char *name) { vips_image_remove(im, name); }
*/
import "C"

import (
	"errors"
	"reflect"
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

// copyMemory evaluates img (typically a read-once pipeline over a
// sequential loader: this is where a source's pixels are decoded) into
// memory and returns a random-access image over it, with img's metadata.
// Unlike an encode/decode round trip (TIFF), it is one copy, outside the Go
// heap, and keeps every metadata field, EXIF included.
func copyMemory(img *vips.ImageRef) (*vips.ImageRef, error) {
	var out *C.VipsImage
	if C.copy_memory(cImage(img), &out) != 0 {
		return nil, vipsError()
	}
	return adopt(img, out)
}

// removeField removes one metadata field of img (no-op when absent).
func removeField(img *vips.ImageRef, name string) {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	C.remove_field(cImage(img), c)
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
