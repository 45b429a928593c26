/* Standalone fuzz driver: fuzz_x [-runs N] [-seed S] [corpus files...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static uint64_t fuzz_rng = 88172645463325252ull;

static uint64_t next_rand(void) {
  fuzz_rng ^= fuzz_rng << 13;
  fuzz_rng ^= fuzz_rng >> 7;
  fuzz_rng ^= fuzz_rng << 17;
  return fuzz_rng;
}

#define MAXLEN 4096

static size_t mutate(uint8_t *buf, size_t len) {
  static const char *const tokens[] = {"return", "{", "}", "=", ",", "\"", "parts", "type",
                                       "bme280", "led", "pin", "bus", "cs", "irq", "gpio",
                                       "spi", "pins", "name", "-1", "1e999", "0x7fffffff",
                                       "nil", "true", "function() end", "(", ")", "..", "s",
                                       "ms", "h", ".", "9"};
  int ops = 1 + (int)(next_rand() % 4);
  for (int k = 0; k < ops; k++) {
    size_t pos = len ? next_rand() % (len + 1) : 0;
    switch (next_rand() % 4) {
      case 0: /* flip a byte */
        if (len) buf[next_rand() % len] = (uint8_t)next_rand();
        break;
      case 1: /* delete a run */
        if (len) {
          size_t n = 1 + next_rand() % 8;
          if (pos + n > len) n = len - pos;
          memmove(buf + pos, buf + pos + n, len - pos - n);
          len -= n;
        }
        break;
      default: { /* insert a token */
        const char *t = tokens[next_rand() % (sizeof tokens / sizeof tokens[0])];
        size_t n = strlen(t);
        if (len + n < MAXLEN) {
          memmove(buf + pos + n, buf + pos, len - pos);
          memcpy(buf + pos, t, n);
          len += n;
        }
      }
    }
  }
  return len;
}

int main(int argc, char **argv) {
  long runs = 10000;
  static uint8_t corpus[64][MAXLEN];
  size_t clen[64];
  int nc = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-runs") == 0 && i + 1 < argc) {
      runs = atol(argv[++i]);
    } else if (strcmp(argv[i], "-seed") == 0 && i + 1 < argc) {
      fuzz_rng = strtoull(argv[++i], NULL, 10) | 1;
    } else if (nc < 64) {
      FILE *f = fopen(argv[i], "rb");
      if (!f) {
        perror(argv[i]);
        return 2;
      }
      clen[nc] = fread(corpus[nc], 1, MAXLEN, f);
      fclose(f);
      LLVMFuzzerTestOneInput(corpus[nc], clen[nc]);
      nc++;
    }
  }
  if (nc == 0) {
    clen[0] = 0;
    nc = 1;
  }
  static uint8_t buf[MAXLEN];
  for (long r = 0; r < runs; r++) {
    int c = (int)(next_rand() % (uint64_t)nc);
    memcpy(buf, corpus[c], clen[c]);
    size_t len = mutate(buf, clen[c]);
    LLVMFuzzerTestOneInput(buf, len);
  }
  /* stderr: targets that run Lua send stdout to /dev/null */
  fprintf(stderr, "fuzz: %ld runs over %d seed(s), no crash\n", runs, nc);
  return 0;
}
