/* Parse a duration such as "10s", "250ms", "1.5m", "2h", "100us" or a
 * plain number of seconds. Fuzzed (tests/fuzz). */
#ifndef SIM_DURATION_H
#define SIM_DURATION_H

#include <stdbool.h>
#include <stdint.h>

bool duration_parse(const char *s, uint64_t *us);

#endif
