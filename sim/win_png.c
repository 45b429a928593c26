#include "win_png.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpng reports through longjmp: the message is kept for the caller. */
static void on_png_error(png_structp png, png_const_charp msg) {
  char *err = png_get_error_ptr(png);
  if (err) snprintf(err, 160, "%s", msg);
  png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

bool win_png_write(const char *path, const void *pixels, int w, int h, int pitch, char *err,
                   size_t errlen) {
  char pngerr[160] = "";
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return false;
  }
  uint8_t *row = malloc((size_t)w * 3);
  png_structp png = row ? png_create_write_struct(PNG_LIBPNG_VER_STRING, pngerr, on_png_error,
                                                  on_png_warning)
                        : NULL;
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    if (png) png_destroy_write_struct(&png, NULL);
    free(row);
    fclose(f);
    snprintf(err, errlen, "%s: out of memory", path);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(row);
    fclose(f);
    remove(path);
    snprintf(err, errlen, "%s: %s", path, pngerr[0] ? pngerr : "PNG error");
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) {
    const uint32_t *src = (const uint32_t *)((const uint8_t *)pixels + (size_t)y * (size_t)pitch);
    for (int x = 0; x < w; x++) {
      row[3 * x] = (uint8_t)(src[x] >> 16);
      row[3 * x + 1] = (uint8_t)(src[x] >> 8);
      row[3 * x + 2] = (uint8_t)src[x];
    }
    png_write_row(png, row);
  }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  free(row);
  if (fclose(f) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return false;
  }
  return true;
}
