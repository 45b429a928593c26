/* The simulator's command-line quantity parsers (sim/duration.c). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "duration.h"

static void size_ok(const char *s, size_t want) {
  size_t v = 12345;
  if (!size_parse(s, &v)) {
    fprintf(stderr, "size_parse(\"%s\") refused\n", s);
    exit(1);
  }
  CHECK_EQ_U64(v, want);
}

static void size_bad(const char *s) {
  size_t v = 12345;
  if (size_parse(s, &v)) {
    fprintf(stderr, "size_parse(\"%s\") accepted as %zu\n", s, v);
    exit(1);
  }
  CHECK_EQ_U64(v, 12345); /* untouched on refusal */
}

static void test_sizes(void) {
  size_ok("0", 0);
  size_ok("65536", 65536);
  size_ok("64k", 65536);
  size_ok("64K", 65536);
  size_ok("2M", 2u << 20);
  size_ok("1G", (size_t)1 << 30);
  size_ok("007", 7);
  char buf[64];
  snprintf(buf, sizeof buf, "%zu", (size_t)SIZE_MAX);
  size_ok(buf, SIZE_MAX);
  snprintf(buf, sizeof buf, "%zuk", (size_t)(SIZE_MAX >> 10));
  size_ok(buf, (SIZE_MAX >> 10) << 10);
  snprintf(buf, sizeof buf, "%zuG", (size_t)(SIZE_MAX >> 30));
  size_ok(buf, (SIZE_MAX >> 30) << 30);

  /* Overflow: in the digits and in the suffix multiplication. These used
   * to wrap to a tiny cap or to 0, which means "no cap". */
  snprintf(buf, sizeof buf, "%zu0", (size_t)SIZE_MAX);
  size_bad(buf);
  snprintf(buf, sizeof buf, "%zuk", (size_t)(SIZE_MAX >> 10) + 1);
  size_bad(buf);
  snprintf(buf, sizeof buf, "%zuM", (size_t)(SIZE_MAX >> 20) + 1);
  size_bad(buf);
  snprintf(buf, sizeof buf, "%zuG", (size_t)(SIZE_MAX >> 30) + 1);
  size_bad(buf);
  size_bad("99999999999999999999k");
  size_bad("99999999999999999999");
  if (SIZE_MAX == UINT64_MAX) {
    size_bad("18014398509481984k"); /* 2^54 k = 2^64: was 0 */
    size_bad("17592186044416M");    /* 2^44 M = 2^64 */
  }

  /* Not a size. */
  size_bad(NULL);
  size_bad("");
  size_bad("k");
  size_bad("-1");
  size_bad("+1");
  size_bad(" 1");
  size_bad("1 ");
  size_bad("0x10");
  size_bad("1e3");
  size_bad("1.5M");
  size_bad("1m");
  size_bad("1g");
  size_bad("1KB");
  size_bad("1kk");
  size_bad("lots");
}

static void test_durations(void) {
  uint64_t us = 0;
  CHECK(duration_parse("10s", &us) && us == 10000000u);
  CHECK(duration_parse("250ms", &us) && us == 250000u);
  CHECK(duration_parse("1.5m", &us) && us == 90000000u);
  CHECK(duration_parse("2", &us) && us == 2000000u);
  CHECK(duration_parse("100us", &us) && us == 100u);
  CHECK(!duration_parse("0x10", &us));
  CHECK(!duration_parse("1e3", &us));
  CHECK(!duration_parse("1..2", &us));
  CHECK(!duration_parse("", &us));
  CHECK(!duration_parse(NULL, &us));
  CHECK(!duration_parse("99999999999999999999d", &us));
}

int main(void) {
  test_sizes();
  test_durations();
  puts("duration: ok");
  return 0;
}
