/* Number <-> text for the Lua VM on newlib-nano, whose printf has neither
 * `long long` nor floating point (unless its 10 KB float support is linked)
 * and whose strtod drags in another 10 KB. Both directions are exact:
 * floats print with the digits glibc prints (correct rounding, ties to
 * even) and decimal strings read to the nearest double, so the board and
 * the host simulator show and read the same numbers.
 *
 * Portable C, no libc beyond string.h; tested on the host against glibc
 * (target/mps2-an385/tests/numfmt_check.c). */
#ifndef NUMFMT_H
#define NUMFMT_H

#include <stdarg.h>
#include <stddef.h>

/* snprintf for the formats Lua builds: flags "-+ #0", width, precision,
 * lengths hh h l ll, conversions d i u o x X c s p a A e E f F g G %. */
int numfmt_snprintf(char *buf, size_t size, const char *fmt, ...);
int numfmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* strtod for decimal numerals ([space] [sign] digits [. digits] [e[sign]digits]);
 * hexadecimal numerals are Lua's own (lobject.c). Sets *end to the first
 * unused character, or to s when nothing was read. Overflow gives HUGE_VAL. */
double numfmt_strtod(const char *s, char **end);

#endif
