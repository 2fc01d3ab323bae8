// Package heif decodes HEIF images (HEIC: HEVC-coded, what phones write;
// and AV1) with the system's libheif, to 8-bit interleaved RGB or RGBA.
//
// It is a package of its own so that its cgo flags are libheif's alone:
// the libvips build imagepipe links by default ships a newer libheif's
// headers in its include directory, and in a package that also includes
// libvips those could win over the headers of the library actually linked.
// header_matches_library checks that at run time anyway.
package heif

/*
#cgo pkg-config: libheif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libheif/heif.h>

typedef struct {
	int width, height, alpha, has_icc;
	char msg[256];
} heif_info;

// header_matches_library: the headers compiled against are the library
// linked (same major.minor).
static int header_matches_library(void) {
	return (heif_get_version_number() >> 16) == (LIBHEIF_NUMERIC_VERSION >> 16);
}

static void heif_msg(heif_info *info, const char *what, struct heif_error err) {
	snprintf(info->msg, sizeof info->msg, "%s: %s", what, err.message ? err.message : "failed");
}

// open_primary parses the container (no pixels) and returns the primary
// image's handle. Sizes are after libheif's transformations (irot, imir,
// clap), which it applies when decoding: the image comes out upright.
// One decoding thread: imagepipe's jobs are single-threaded.
static int open_primary(const void *data, size_t len, int max_side,
		struct heif_context **ctx, struct heif_image_handle **h, heif_info *info) {
	*ctx = heif_context_alloc();
	if (!*ctx) { snprintf(info->msg, sizeof info->msg, "out of memory"); return -1; }
	heif_context_set_maximum_image_size_limit(*ctx, max_side);
	heif_context_set_max_decoding_threads(*ctx, 1);
	struct heif_error err = heif_context_read_from_memory_without_copy(*ctx, data, len, NULL);
	if (err.code != heif_error_Ok) { heif_msg(info, "read", err); return -1; }
	err = heif_context_get_primary_image_handle(*ctx, h);
	if (err.code != heif_error_Ok) { heif_msg(info, "primary image", err); return -1; }
	info->width = heif_image_handle_get_width(*h);
	info->height = heif_image_handle_get_height(*h);
	info->alpha = heif_image_handle_has_alpha_channel(*h);
	enum heif_color_profile_type t = heif_image_handle_get_color_profile_type(*h);
	info->has_icc = t == heif_color_profile_type_prof || t == heif_color_profile_type_rICC;
	return 0;
}

static void close_primary(struct heif_context *ctx, struct heif_image_handle *h) {
	if (h) heif_image_handle_release(h);
	if (ctx) heif_context_free(ctx);
}

static int heif_probe(const void *data, size_t len, int max_side, heif_info *info) {
	struct heif_context *ctx = NULL;
	struct heif_image_handle *h = NULL;
	int r = open_primary(data, len, max_side, &ctx, &h, info);
	close_primary(ctx, h);
	return r;
}

typedef struct {
	struct heif_image *img;
	const uint8_t *pix;
	int stride;
	unsigned char *icc;
	size_t icc_len;
} heif_pixels;

// heif_decode decodes the primary image to 8-bit interleaved RGB(A). The
// decoded size must be the header's (want_w x want_h). On success px->img
// holds the pixels (release with heif_pixels_free) and px->icc a copy of
// the ICC profile, if any.
static int heif_decode(const void *data, size_t len, int max_side, int want_w, int want_h,
		heif_pixels *px, heif_info *info) {
	struct heif_context *ctx = NULL;
	struct heif_image_handle *h = NULL;
	int r = -1;
	memset(px, 0, sizeof *px);
	if (open_primary(data, len, max_side, &ctx, &h, info)) goto done;
	if (info->width != want_w || info->height != want_h) {
		snprintf(info->msg, sizeof info->msg, "decode: the header said %dx%d, then %dx%d",
			want_w, want_h, info->width, info->height);
		goto done;
	}
	int bands = info->alpha ? 4 : 3;
	struct heif_error err = heif_decode_image(h, &px->img, heif_colorspace_RGB,
		info->alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, NULL);
	if (err.code != heif_error_Ok) { heif_msg(info, "decode", err); goto done; }
	int w = heif_image_get_width(px->img, heif_channel_interleaved);
	int hh = heif_image_get_height(px->img, heif_channel_interleaved);
	px->pix = heif_image_get_plane_readonly(px->img, heif_channel_interleaved, &px->stride);
	if (!px->pix || w != want_w || hh != want_h || px->stride < w * bands) {
		snprintf(info->msg, sizeof info->msg, "decode: decoded %dx%d, the header said %dx%d", w, hh, want_w, want_h);
		goto done;
	}
	size_t icc_len = heif_image_handle_get_raw_color_profile_size(h);
	if (info->has_icc && icc_len > 0) {
		px->icc = malloc(icc_len);
		if (px->icc && heif_image_handle_get_raw_color_profile(h, px->icc).code == heif_error_Ok) {
			px->icc_len = icc_len;
		} else {
			free(px->icc);
			px->icc = NULL;
		}
	}
	r = 0;
done:
	if (r != 0 && px->img) { heif_image_release(px->img); px->img = NULL; }
	close_primary(ctx, h);
	return r;
}

static void heif_pixels_free(heif_pixels *px) {
	if (px->img) heif_image_release(px->img);
	free(px->icc);
	memset(px, 0, sizeof *px);
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// MaxSide is libheif's own limit on either side (its default): a backstop
// behind the caller's limits, checked on the header before decoding.
const MaxSide = 32768

// ErrHeaders is returned when the package was built against other libheif
// headers than the library it is linked with (an internal error).
var ErrHeaders = errors.New("heif: libheif headers do not match the linked library")

// Info is what the header says about the primary image (upright).
type Info struct {
	Width, Height int
	Alpha, ICC    bool
}

// Probe parses the container and the primary image's header; no pixels.
func Probe(src []byte) (Info, error) {
	if C.header_matches_library() == 0 {
		return Info{}, ErrHeaders
	}
	var info C.heif_info
	if C.heif_probe(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), MaxSide, &info) != 0 {
		return Info{}, errors.New(C.GoString(&info.msg[0]))
	}
	return Info{Width: int(info.width), Height: int(info.height), Alpha: info.alpha != 0, ICC: info.has_icc != 0}, nil
}

// Image is a decoded primary image: Height rows of Width pixels of Bands
// bytes (RGB or RGBA), Stride bytes apart, in libheif's memory until Close.
type Image struct {
	Width, Height, Bands, Stride int
	Pix                          unsafe.Pointer
	ICC                          []byte // the embedded ICC profile, if any
	px                           C.heif_pixels
}

// Decode decodes the primary image of src, which must be w x h (the size
// Probe returned and the caller checked).
func Decode(src []byte, w, h int) (*Image, error) {
	if C.header_matches_library() == 0 {
		return nil, ErrHeaders
	}
	var info C.heif_info
	im := &Image{}
	if C.heif_decode(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), MaxSide, C.int(w), C.int(h), &im.px, &info) != 0 {
		return nil, errors.New(C.GoString(&info.msg[0]))
	}
	im.Width, im.Height, im.Stride = w, h, int(im.px.stride)
	im.Bands = 3
	if info.alpha != 0 {
		im.Bands = 4
	}
	im.Pix = unsafe.Pointer(im.px.pix)
	if im.px.icc != nil {
		im.ICC = C.GoBytes(unsafe.Pointer(im.px.icc), C.int(im.px.icc_len))
	}
	return im, nil
}

// Close releases the pixels.
func (im *Image) Close() {
	C.heif_pixels_free(&im.px)
	im.Pix = nil
}
