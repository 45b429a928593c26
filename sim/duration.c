#include "duration.h"

#include <stdlib.h>
#include <string.h>

bool duration_parse(const char *s, uint64_t *us) {
  if (!s) return false;
  /* Plain decimal only (strtod would also take hex, exponents, inf, nan). */
  size_t n = 0;
  int digits = 0, dots = 0;
  for (; s[n] && ((s[n] >= '0' && s[n] <= '9') || s[n] == '.'); n++) {
    if (s[n] == '.') dots++;
    else digits++;
  }
  if (digits == 0 || dots > 1) return false;
  const char *unit = s + n;
  double v = strtod(s, NULL);
  double scale;
  if (*unit == '\0' || strcmp(unit, "s") == 0) scale = 1e6;
  else if (strcmp(unit, "ms") == 0) scale = 1e3;
  else if (strcmp(unit, "us") == 0) scale = 1;
  else if (strcmp(unit, "m") == 0 || strcmp(unit, "min") == 0) scale = 60e6;
  else if (strcmp(unit, "h") == 0) scale = 3600e6;
  else if (strcmp(unit, "d") == 0) scale = 86400e6;
  else return false;
  double r = v * scale;
  if (!(r < 1.8e19)) return false; /* beyond uint64 */
  *us = (uint64_t)r;
  return true;
}

bool size_parse(const char *s, size_t *bytes) {
  if (!s || !*s) return false;
  /* Digits by hand: strtoull takes signs, spaces and "0x", and its
   * overflow is an errno that is easy to forget. */
  size_t v = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    size_t d = (size_t)(*p - '0');
    if (v > (SIZE_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (p == s) return false;
  unsigned shift = 0;
  if (*p == 'k' || *p == 'K') shift = 10, p++;
  else if (*p == 'M') shift = 20, p++;
  else if (*p == 'G') shift = 30, p++;
  if (*p) return false;
  if (shift && v > (SIZE_MAX >> shift)) return false;
  *bytes = v << shift;
  return true;
}
