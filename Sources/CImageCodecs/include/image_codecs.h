#ifndef PRISM_IMAGE_CODECS_H
#define PRISM_IMAGE_CODECS_H
#include <stddef.h>
#include <stdint.h>

// Thin wrappers over libjpeg and libpng: they turn the libraries' longjmp error handling into return
// codes and messages (Swift cannot catch a longjmp). On failure they return 0 and fill `err`.

//
// The decoders read the header first and return PRISM_IMAGE_TOO_LARGE (with *width/*height set from the header)
// before allocating anything when a side exceeds max_side or the pixel count exceeds max_pixels. A truncated
// file is an error, never an image padded with grey.
#define PRISM_IMAGE_TOO_LARGE 2

// Decodes a JPEG to 8-bit RGB (grayscale and CMYK are converted). *out is malloc'd; free with prism_free.
int prism_jpeg_decode(const uint8_t *data, size_t size, size_t max_side, size_t max_pixels,
                      int *width, int *height, uint8_t **out, char *err, size_t errlen);
// Decodes a PNG (any colour type / bit depth; alpha is dropped, 16-bit narrowed) to 8-bit RGB.
int prism_png_decode(const uint8_t *data, size_t size, size_t max_side, size_t max_pixels,
                     int *width, int *height, uint8_t **out, char *err, size_t errlen);
// Encodes 8-bit pixels (channels 1 = gray, 3 = RGB, 4 = RGBA) as PNG into a malloc'd buffer.
int prism_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **out, size_t *outlen,
                     char *err, size_t errlen);
void prism_free(void *p);
#endif
