/* Host check of numfmt.c against the C library (glibc): same text for
 * every format Lua uses, and strtod to the same double, over fixed edge
 * cases and random values. Built and run by ctest in the firmware build
 * (numfmt-host-check); exits 1 on the first mismatches. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

static int failures;
static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t next_u64(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void fail(const char *what, const char *fmt, const char *want, const char *got) {
  if (failures++ < 20) printf("MISMATCH %s [%s]: want <%s> got <%s>\n", what, fmt, want, got);
}

static void check_double(const char *fmt, double v) {
  char want[1200], got[1200];
  int wn = snprintf(want, sizeof want, fmt, v);
  int gn = numfmt_snprintf(got, sizeof got, fmt, v);
  if (wn != gn || strcmp(want, got) != 0) fail("double", fmt, want, got);
}

static void check_ll(const char *fmt, long long v) {
  char want[200], got[200];
  int wn = snprintf(want, sizeof want, fmt, v);
  int gn = numfmt_snprintf(got, sizeof got, fmt, v);
  if (wn != gn || strcmp(want, got) != 0) fail("long long", fmt, want, got);
}

static void check_int(const char *fmt, int v) {
  char want[200], got[200];
  snprintf(want, sizeof want, fmt, v);
  numfmt_snprintf(got, sizeof got, fmt, v);
  if (strcmp(want, got) != 0) fail("int", fmt, want, got);
}

static void check_str(const char *fmt, const char *v) {
  char want[200], got[200];
  snprintf(want, sizeof want, fmt, v);
  numfmt_snprintf(got, sizeof got, fmt, v);
  if (strcmp(want, got) != 0) fail("string", fmt, want, got);
}

static void check_parse(const char *s) {
  char *e1, *e2;
  double want = strtod(s, &e1);
  double got = numfmt_strtod(s, &e2);
  if (memcmp(&want, &got, sizeof want) != 0 || e1 != e2) {
    char w[64], g[64];
    snprintf(w, sizeof w, "%a end+%d", want, (int)(e1 - s));
    snprintf(g, sizeof g, "%a end+%d", got, (int)(e2 - s));
    fail("strtod", s, w, g);
  }
}

static const char *const dfmts[] = {
    "%.14g", "%g", "%.17g", "%.1g", "%.0g", "%#g", "%#.3g", "%G", "%e", "%.0e", "%#.0e",
    "%.3e", "%E", "%.20e", "%f", "%.0f", "%#.0f", "%.3f", "%.10f", "%a", "%A", "%.0a",
    "%.1a", "%.3a", "%.13a", "%.15a", "%#a", "%10.3f", "%-12.4e|", "%+g", "% g", "%+.3e",
    "%020.5f", "%-20.5f|", "%015.3e", "%025a", "%99.30g", "%.99g", "%.40e", "5%%%.2f"};

int main(void) {
  static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.5, 2.5, 0.125, 1e15,
                                   1e16, 1e21, 1e22, 1e23, 123456789012345678.0, 3.14159,
                                   2.0 / 3.0, 1e-5, 1e-4, 9.9999, 9.99999999, 0.000123456,
                                   DBL_MAX, DBL_MIN, DBL_TRUE_MIN, -DBL_TRUE_MIN, 5e-324 * 3,
                                   DBL_EPSILON, 9007199254740993.0, 4.35, 0.05, 0.15, 0.25,
                                   1e100, 1e-100, 1e300, 1e-300, 1e308, 2.2250738585072009e-308,
                                   INFINITY, -INFINITY, NAN, 0.3, 1.0 / 3.0, 100.0, 1e-7};
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
    for (size_t f = 0; f < sizeof dfmts / sizeof dfmts[0]; f++) check_double(dfmts[f], special[i]);
  for (int n = 0; n < 200000; n++) {
    uint64_t b = next_u64();
    double v;
    memcpy(&v, &b, sizeof v);
    if (isnan(v)) continue;
    check_double(dfmts[n % (sizeof dfmts / sizeof dfmts[0])], v);
    check_double("%.14g", v);
    /* moderate magnitudes exercise %f's integer part */
    double w = ldexp((double)(b >> 11), (int)(b % 120) - 90);
    check_double("%.5f", w);
    check_double("%.14g", w);
    check_double("%.3g", w);
  }
  for (int r = 1; r < 1000; r++) { /* ties at every precision */
    double v = r / 8.0;
    check_double("%.0f", v);
    check_double("%.1f", v);
    check_double("%.2f", v);
    check_double("%.1e", v);
    check_double("%.2g", v);
  }
  static const long long ints[] = {0, 1, -1, 42, -42, 255, 1000000, -1000000,
                                   9223372036854775807LL, -9223372036854775807LL - 1,
                                   4294967295LL, 4294967296LL, -4294967296LL};
  static const char *const ifmts[] = {"%lld", "%5lld", "%-5lld|", "%+lld", "% lld", "%05lld",
                                      "%.3lld", "%.0lld", "%llx", "%#llx", "%llX", "%#llX",
                                      "%llo", "%#llo", "%20lld", "%-20lld|", "%020llx", "%llu",
                                      "%#.0llo", "%.0llx"};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    for (size_t f = 0; f < sizeof ifmts / sizeof ifmts[0]; f++) check_ll(ifmts[f], ints[i]);
  for (int n = 0; n < 100000; n++) check_ll(ifmts[n % 20], (long long)next_u64());
  check_int("\\%d", 7);
  check_int("\\%03d", 7);
  check_int("p%+d", -1074);
  check_int("p%+d", 3);
  check_int("%c", 'A');
  check_int("%-3c|", 'A');
  check_int("%5c", 'z');
  check_str("%s", "hello");
  check_str("%.3s", "hello");
  check_str("%10s", "hi");
  check_str("%-10s|", "hi");
  check_str("%10.1s", "hi");
  {
    char want[64], got[64];
    void *p = (void *)(uintptr_t)0x2000abcd;
    snprintf(want, sizeof want, "%p", p);
    numfmt_snprintf(got, sizeof got, "%p", p);
    if (strcmp(want, got)) fail("pointer", "%p", want, got);
    snprintf(want, sizeof want, "%p", (void *)0);
    numfmt_snprintf(got, sizeof got, "%p", (void *)0);
    if (strcmp(want, got)) fail("pointer", "%p", want, got);
    /* truncation keeps snprintf's return value */
    volatile size_t small = 5;
    int wn = snprintf(want, small, "%.3f", 3.14159);
    int gn = numfmt_snprintf(got, small, "%.3f", 3.14159);
    if (wn != gn || strcmp(want, got)) fail("truncate", "%.3f", want, got);
  }

  static const char *const parse[] = {
      "0", "-0", "1", "0.1", ".5", "5.", ".", "-.", "1e", "1e+", "1e-5", "1E5x", "  42", "+3",
      "0.30000000000000004", "1.7976931348623157e308", "1.7976931348623158e308",
      "1.7976931348623159e308", "1e309", "2.2250738585072011e-308", "2.2250738585072012e-308",
      "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
      "1e-400", "123456789012345678901234567890", "9007199254740993", "9007199254740992.5",
      "0.000000000000000000000000000000000000000000001", "3.14159abc", "00000000000001.5",
      "1.00000000000000011102230246251565404236316680908203125",
      "1.00000000000000011102230246251565404236316680908203124",
      "1.00000000000000011102230246251565404236316680908203126", "abc", "", "e5", "-1e-330"};
  for (size_t i = 0; i < sizeof parse / sizeof parse[0]; i++) check_parse(parse[i]);
  for (int n = 0; n < 200000; n++) {
    uint64_t b = next_u64();
    double v;
    memcpy(&v, &b, sizeof v);
    if (!isfinite(v)) continue;
    char s[1200];
    static const char *const pf[] = {"%.17g", "%.15g", "%.16e", "%.20e", "%.6g", "%.25g"};
    snprintf(s, sizeof s, pf[n % 6], v);
    check_parse(s);
    if (n % 50 == 0) { /* exact midpoints between neighbours: ties to even */
      double up = nextafter(fabs(v), INFINITY);
      if (isfinite(up)) {
        /* the midpoint has an exact decimal expansion; long double holds it exactly */
        long double mid = ((long double)fabs(v) + (long double)up) / 2;
        snprintf(s, sizeof s, "%.800Lg", mid);
        check_parse(s);
      }
    }
    if (n % 7 == 0) { /* random digit strings */
      int len = 1 + (int)(next_u64() % 30);
      char *q = s;
      for (int k = 0; k < len; k++) *q++ = (char)('0' + next_u64() % 10);
      if (len > 3) s[next_u64() % (unsigned)len] = '.';
      q += sprintf(q, "e%d", (int)(next_u64() % 700) - 350);
      check_parse(s);
    }
  }
  printf("numfmt: %s (%d mismatches)\n", failures ? "FAILED" : "ok", failures);
  return failures ? 1 : 0;
}
