/* --mem-limit sizes come from the command line: any bytes give a size or
 * a refusal, and an accepted size is what the digits and suffix say. */
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char s[64];
  if (size >= sizeof s) size = sizeof s - 1;
  memcpy(s, data, size);
  s[size] = '\0';
  size_t v;
  if (!size_parse(s, &v)) return 0;
  /* Check the value independently, in wide arithmetic. */
  const char *p = s;
  unsigned __int128 want = 0;
  while (*p >= '0' && *p <= '9') want = want * 10 + (unsigned)(*p++ - '0');
  if (*p == 'k' || *p == 'K') want <<= 10;
  else if (*p == 'M') want <<= 20;
  else if (*p == 'G') want <<= 30;
  if (want > SIZE_MAX || (size_t)want != v) abort();
  return 0;
}
