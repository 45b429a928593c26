/* PNG files of the window (libpng). */
#ifndef SIM_WIN_PNG_H
#define SIM_WIN_PNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Write w x h pixels, 32 bits each as 0x00RRGGBB in host order, rows
 * `pitch` bytes apart, as an 8-bit RGB PNG. False with a message. */
bool win_png_write(const char *path, const void *pixels, int w, int h, int pitch, char *err,
                   size_t errlen);

#endif
