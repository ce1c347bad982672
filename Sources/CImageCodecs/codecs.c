#include "image_codecs.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void prism_free(void *p) { free(p); }

// ---- JPEG -------------------------------------------------------------------------------------
struct jpeg_error_ctx {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int truncated;   // libjpeg warned that the data ended early (it then pads the image with grey)
};

static void jpeg_error_exit(j_common_ptr cinfo) {
    struct jpeg_error_ctx *ctx = (struct jpeg_error_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, ctx->message);
    longjmp(ctx->jump, 1);
}

// Warnings stay quiet, but the ones that mean "the data ran out" are remembered: libjpeg would otherwise
// finish the image with grey and report success. Other corrupt-data warnings (extraneous bytes before a
// marker) are common in real files that still decode fully.
static void jpeg_quiet(j_common_ptr cinfo, int level) {
    struct jpeg_error_ctx *ctx = (struct jpeg_error_ctx *)cinfo->err;
    if (level < 0 && (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER)) ctx->truncated = 1;
    if (level < 0) cinfo->err->num_warnings++;
}

static int too_large(size_t w, size_t h, size_t max_side, size_t max_pixels) {
    return w > max_side || h > max_side || (h > 0 && w > max_pixels / h);
}

int prism_jpeg_decode(const uint8_t *data, size_t size, size_t max_side, size_t max_pixels,
                      int *width, int *height, uint8_t **out, char *err, size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_ctx ctx;
    uint8_t *volatile pixels = NULL;
    *out = NULL;
    memset(&ctx, 0, sizeof ctx);
    cinfo.err = jpeg_std_error(&ctx.mgr);
    ctx.mgr.error_exit = jpeg_error_exit;
    ctx.mgr.emit_message = jpeg_quiet;
    if (setjmp(ctx.jump)) {
        snprintf(err, errlen, "%s", ctx.message);
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 0;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    // The header's size is checked before libjpeg allocates anything for the image.
    if (too_large(cinfo.image_width, cinfo.image_height, max_side, max_pixels)) {
        *width = (int)cinfo.image_width; *height = (int)cinfo.image_height;
        jpeg_destroy_decompress(&cinfo);
        return PRISM_IMAGE_TOO_LARGE;
    }
    cinfo.out_color_space = JCS_RGB;   // libjpeg converts grayscale/YCbCr; CMYK is handled below
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) cinfo.out_color_space = JCS_CMYK;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, c = cinfo.output_components;
    if (w <= 0 || h <= 0 || too_large((size_t)w, (size_t)h, max_side, max_pixels)) {
        snprintf(err, errlen, "unsupported image size %dx%d", w, h);
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    uint8_t *row = malloc((size_t)w * c);
    pixels = malloc((size_t)w * h * 3);
    if (!row || !pixels) {
        free(row);
        snprintf(err, errlen, "out of memory");
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 0;
    }
    // A truncated file makes libjpeg warn and pad with grey; we report it instead (below).
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rp = row;
        unsigned y = cinfo.output_scanline;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) break;
        uint8_t *dst = pixels + (size_t)y * w * 3;
        if (c == 3) memcpy(dst, row, (size_t)w * 3);
        else if (c == 4) {   // Adobe CMYK JPEGs store inverted values
            for (int x = 0; x < w; x++) {
                int k = row[4 * x + 3];
                for (int ch = 0; ch < 3; ch++) dst[3 * x + ch] = (uint8_t)(row[4 * x + ch] * k / 255);
            }
        } else for (int x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
    }
    free(row);
    // Other corrupt-data warnings are common in real files that still decode; a premature end is not.
    // A progressive file is read whole by jpeg_start_decompress, a baseline one while its rows are read, so any
    // missing image data has been noticed by now.
    if (ctx.truncated || cinfo.output_scanline < cinfo.output_height) {
        snprintf(err, errlen, "truncated or corrupt JPEG data (premature end of the compressed data)");
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 0;
    }
    jpeg_finish_decompress(&cinfo);   // complete image data without its EOI marker only warns here
    jpeg_destroy_decompress(&cinfo);
    *width = w; *height = h; *out = pixels;
    return 1;
}

// ---- PNG (libpng's simplified API: no longjmp reaches us) ---------------------------------------
int prism_png_decode(const uint8_t *data, size_t size, size_t max_side, size_t max_pixels,
                     int *width, int *height, uint8_t **out, char *err, size_t errlen) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    *out = NULL;
    if (!png_image_begin_read_from_memory(&img, data, size)) {
        snprintf(err, errlen, "%s", img.message);
        return 0;
    }
    img.format = PNG_FORMAT_RGB;   // alpha is composited onto black by libpng when dropped
    // The header's size is checked before anything is allocated for the pixels.
    if (img.width == 0 || img.height == 0 || too_large(img.width, img.height, max_side, max_pixels)
        || (size_t)img.width > (size_t)INT32_MAX / 3) {
        *width = (int)(img.width > INT32_MAX ? INT32_MAX : img.width);
        *height = (int)(img.height > INT32_MAX ? INT32_MAX : img.height);
        png_image_free(&img);
        return PRISM_IMAGE_TOO_LARGE;
    }
    // Buffer size in size_t: PNG_IMAGE_SIZE computes in 32 bits.
    png_int_32 stride = (png_int_32)(img.width * 3);
    uint8_t *pixels = malloc((size_t)stride * img.height);
    if (!pixels) { snprintf(err, errlen, "out of memory"); png_image_free(&img); return 0; }
    if (!png_image_finish_read(&img, NULL, pixels, stride, NULL)) {
        snprintf(err, errlen, "%s", img.message);
        free(pixels);
        png_image_free(&img);
        return 0;
    }
    *width = (int)img.width; *height = (int)img.height; *out = pixels;
    return 1;
}

int prism_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **out, size_t *outlen,
                     char *err, size_t errlen) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    *out = NULL;
    if (!png_image_write_to_memory(&img, NULL, &size, 0, pixels, 0, NULL)) {
        snprintf(err, errlen, "%s", img.message);
        return 0;
    }
    uint8_t *buf = malloc(size);
    if (!buf) { snprintf(err, errlen, "out of memory"); return 0; }
    if (!png_image_write_to_memory(&img, buf, &size, 0, pixels, 0, NULL)) {
        snprintf(err, errlen, "%s", img.message);
        free(buf);
        return 0;
    }
    *out = buf; *outlen = size;
    return 1;
}
