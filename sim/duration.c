#include "duration.h"

#include <stdlib.h>
#include <string.h>

bool duration_parse(const char *s, uint64_t *us) {
  if (!s || !*s) return false;
  /* strtod accepts hex, inf and nan; a duration is plain decimal. */
  for (const char *c = s; *c && !(*c >= 'a' && *c <= 'z'); c++)
    if (!((*c >= '0' && *c <= '9') || *c == '.')) return false;
  char *end;
  double v = strtod(s, &end);
  if (end == s || v < 0) return false;
  double scale;
  if (*end == '\0' || strcmp(end, "s") == 0) scale = 1e6;
  else if (strcmp(end, "ms") == 0) scale = 1e3;
  else if (strcmp(end, "us") == 0) scale = 1;
  else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) scale = 60e6;
  else if (strcmp(end, "h") == 0) scale = 3600e6;
  else if (strcmp(end, "d") == 0) scale = 86400e6;
  else return false;
  double r = v * scale;
  if (!(r < 1.8e19)) return false; /* beyond uint64 (also catches NaN) */
  *us = (uint64_t)r;
  return true;
}
