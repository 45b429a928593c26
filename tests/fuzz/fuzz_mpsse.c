/* The MPSSE emulator (virtual-hw/mpsse_model.c) parses whatever an app
 * sends through hil.raw: random command streams, split into random
 * writes and reads, against a BME280 and a LIS3DH on ADBUS3/ADBUS4. */
#include <stdlib.h>
#include <string.h>

#include "bme280_model.h"
#include "fuzz.h"
#include "lis3dh_model.h"
#include "mpsse_model.h"

static uint64_t clock_us;
static uint64_t now(void *ctx) {
  (void)ctx;
  return clock_us;
}
static void drive(void *ctx, int pin, int level) {
  (void)ctx;
  (void)pin;
  (void)level;
}
static int outside[MPSSE_PINS];
static int pin_level(void *ctx, int pin) {
  (void)ctx;
  return outside[pin];
}
static void pin_drive(void *ctx, int pin, int level) {
  (void)ctx;
  (void)pin;
  (void)level;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  vhw_env_t env = {now, drive, NULL};
  clock_us = 0;
  for (int i = 0; i < MPSSE_PINS; i++) outside[i] = (data[1] >> (i & 7)) & 1 ? -1 : (i & 1);
  mpsse_wiring_t w = {pin_level, pin_drive, NULL};
  mpsse_t *m = mpsse_new((mpsse_chip_t)(data[0] % 4), &w);
  vhw_part_t *b = vhw_bme280_new(&env), *l = vhw_lis3dh_new(&env);
  if (!m || !b || !l) abort();
  mpsse_attach(m, b, 3);
  mpsse_attach(m, l, 4);
  mpsse_enable(m, true);
  uint8_t out[512];
  size_t pos = 2;
  while (pos < size) {
    /* a control byte: how much to write, then maybe read or purge */
    uint8_t c = data[pos++];
    size_t n = (size_t)(c & 0x3F) * 3 + 1;
    if (n > size - pos) n = size - pos;
    mpsse_write(m, data + pos, n);
    pos += n;
    if (c & 0x40) mpsse_read(m, out, sizeof out);
    if ((c & 0xC0) == 0xC0) mpsse_purge(m);
    clock_us += 1000;
  }
  while (mpsse_read(m, out, sizeof out)) {
  }
  mpsse_free(m);
  b->ops->destroy(b);
  l->ops->destroy(l);
  return 0;
}
