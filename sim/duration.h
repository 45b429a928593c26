/* Command-line quantities: a duration such as "10s", "250ms", "1.5m", "2h",
 * "100us" or a plain number of seconds; a size such as "65536", "64k", "2M",
 * "1G". Both are outside data, so both are fuzzed (tests/fuzz). */
#ifndef SIM_DURATION_H
#define SIM_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool duration_parse(const char *s, uint64_t *us);

/* Decimal bytes with an optional suffix k/K (x1024), M (x1024^2) or
 * G (x1024^3). False (and *bytes untouched) for anything else, including
 * a value that does not fit in size_t: never wraps. */
bool size_parse(const char *s, size_t *bytes);

#endif
