package imaging

// HEIF (HEIC: HEVC-coded HEIF, what phones write) is decoded here with the
// system's libheif rather than through libvips: the libvips imagepipe links
// by default (sharp's prebuilt 8.18, scripts/libvips.sh) has no HEVC
// decoder, as it ships no patent-encumbered codecs. One path for every
// build: Debian's libheif decodes HEVC (libde265) and AV1. AVIF still goes
// through libvips' own heifload, which is shrink-on-load capable for
// neither, so nothing is lost.

/*
#cgo pkg-config: libheif vips
#include <stdlib.h>
#include <string.h>
#include <libheif/heif.h>
#include <vips/vips.h>

typedef struct {
	int width, height, alpha, has_icc;
	char msg[256];
} heif_info;

static void heif_msg(heif_info *info, const char *what, struct heif_error err) {
	snprintf(info->msg, sizeof info->msg, "%s: %s", what, err.message ? err.message : "failed");
}

// open_primary parses the container (no pixels) and returns the primary
// image's handle. Sizes are after libheif's transformations (irot, imir,
// clap), which it applies when decoding: the image comes out upright.
static int open_primary(const void *data, size_t len, int max_side,
		struct heif_context **ctx, struct heif_image_handle **h, heif_info *info) {
	*ctx = heif_context_alloc();
	if (!*ctx) { snprintf(info->msg, sizeof info->msg, "out of memory"); return -1; }
	heif_context_set_maximum_image_size_limit(*ctx, max_side);
	struct heif_error err = heif_context_read_from_memory_without_copy(*ctx, data, len, NULL);
	if (err.code != heif_error_Ok) { heif_msg(info, "read", err); return -1; }
	err = heif_context_get_primary_image_handle(*ctx, h);
	if (err.code != heif_error_Ok) { heif_msg(info, "primary image", err); return -1; }
	info->width = heif_image_handle_get_width(*h);
	info->height = heif_image_handle_get_height(*h);
	info->alpha = heif_image_handle_has_alpha_channel(*h);
	info->has_icc = heif_image_handle_get_color_profile_type(*h) == heif_color_profile_type_prof ||
		heif_image_handle_get_color_profile_type(*h) == heif_color_profile_type_rICC;
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

// heif_decode decodes the primary image to 8-bit interleaved RGB(A) in a
// new libvips memory image, tagged with the image's ICC profile if any.
static int heif_decode(const void *data, size_t len, int max_side, VipsImage **out, heif_info *info) {
	struct heif_context *ctx = NULL;
	struct heif_image_handle *h = NULL;
	struct heif_image *img = NULL;
	int r = -1;
	if (open_primary(data, len, max_side, &ctx, &h, info)) goto done;
	int bands = info->alpha ? 4 : 3;
	struct heif_error err = heif_decode_image(h, &img, heif_colorspace_RGB,
		info->alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, NULL);
	if (err.code != heif_error_Ok) { heif_msg(info, "decode", err); goto done; }
	int w = heif_image_get_width(img, heif_channel_interleaved);
	int hh = heif_image_get_height(img, heif_channel_interleaved);
	int stride = 0;
	const uint8_t *px = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
	if (!px || w <= 0 || hh <= 0 || stride < w * bands) {
		snprintf(info->msg, sizeof info->msg, "decode: no interleaved plane");
		goto done;
	}
	VipsImage *im = vips_image_new_memory();
	vips_image_init_fields(im, w, hh, bands, VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
		VIPS_INTERPRETATION_sRGB, 1.0, 1.0);
	if (vips_image_write_prepare(im)) {
		g_object_unref(im);
		snprintf(info->msg, sizeof info->msg, "decode: out of memory");
		goto done;
	}
	for (int y = 0; y < hh; y++)
		memcpy(VIPS_IMAGE_ADDR(im, 0, y), px + (size_t)y * stride, (size_t)w * bands);
	size_t icc_len = heif_image_handle_get_raw_color_profile_size(h);
	if (info->has_icc && icc_len > 0) {
		void *icc = g_malloc(icc_len);
		if (heif_image_handle_get_raw_color_profile(h, icc).code == heif_error_Ok)
			vips_image_set_blob(im, VIPS_META_ICC_NAME, (VipsCallbackFn) g_free, icc, icc_len);
		else
			g_free(icc);
	}
	vips_image_set_string(im, "vips-loader", "heifload_libheif");
	*out = im;
	info->width = w;
	info->height = hh;
	r = 0;
done:
	if (img) heif_image_release(img);
	close_primary(ctx, h);
	return r;
}
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/davidbyttow/govips/v2/vips"
)

// heifInfo is what the HEIF header says about the primary image (upright).
type heifInfo struct {
	width, height int
	alpha, icc    bool
}

// heifMaxSide is libheif's own limit on either side, a backstop: Probe
// enforces Limits from the header before anything is decoded.
const heifMaxSide = 1 << 16

func heifProbe(src []byte) (heifInfo, error) {
	var info C.heif_info
	if C.heif_probe(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), heifMaxSide, &info) != 0 {
		return heifInfo{}, errors.New(C.GoString(&info.msg[0]))
	}
	return heifInfo{width: int(info.width), height: int(info.height), alpha: info.alpha != 0, icc: info.has_icc != 0}, nil
}

// heifDecode decodes the primary image of src (upright, 8-bit RGB or RGBA,
// with its ICC profile) into a libvips memory image.
func heifDecode(src []byte) (*vips.ImageRef, error) {
	var info C.heif_info
	var out *C.VipsImage
	if C.heif_decode(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), heifMaxSide, &out, &info) != 0 {
		return nil, errors.New(C.GoString(&info.msg[0]))
	}
	return newRef(out)
}

// loadHEIF decodes a HEIF image (see heifDecode) and fits it within
// bw x bh, never enlarging. Colour conversion is left to decode.
func loadHEIF(src []byte, bw, bh int) (*vips.ImageRef, error) {
	img, err := heifDecode(src)
	if err != nil {
		return nil, err
	}
	if img.Width() > bw || img.Height() > bh {
		// vips_thumbnail_image resizes with premultiplied alpha.
		if err := img.ThumbnailWithSize(bw, bh, vips.InterestingNone, vips.SizeDown); err != nil {
			img.Close()
			return nil, err
		}
	}
	return img, nil
}
