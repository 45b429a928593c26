/* --for durations come from the command line: any bytes give a duration
 * or a refusal, never a crash or undefined behaviour (UBSan). */
#include <string.h>

#include "duration.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char s[64];
  if (size >= sizeof s) size = sizeof s - 1;
  memcpy(s, data, size);
  s[size] = '\0';
  uint64_t us;
  (void)duration_parse(s, &us);
  return 0;
}
