/* The ILI9341 model parses whatever an app clocks into it: any stream of
 * bytes, D/C and reset levels, chip selects, faults and time steps leaves
 * it consistent (UBSan/ASan clean), its screen a 240x320 glass, and its
 * descriptions NUL-terminated within their buffer.
 *
 * Input: a program of one-byte operations (low 3 bits), some with an
 * operand byte: D/C level, select, deselect, one byte, time step, reset
 * level, a run of bytes, a fault or a look at the screen. */
#include <string.h>

#include "fuzz.h"
#include "ili9341_model.h"

static uint64_t fuzz_now;

static uint64_t now_us(void *ctx) {
  (void)ctx;
  return fuzz_now;
}

static void check(const vhw_screen_t *s) {
  if (!s || s->width != VHW_ILI9341_WIDTH || s->height != VHW_ILI9341_HEIGHT || !s->pixels)
    __builtin_trap();
  volatile uint16_t sink = s->pixels[s->width * s->height - 1];
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_now = 0;
  vhw_env_t env = {now_us, NULL, NULL};
  vhw_part_t *p = vhw_ili9341_new(&env);
  if (!p) return 0;
  p->dc_pin = 0;
  p->reset_pin = 1;
  const vhw_ops_t *o = p->ops;
  o->pin_changed(p, 1, 1);
  bool selected = false;
  uint8_t tx[64], rx[64];
  size_t n = 0, len = 0;
  for (size_t i = 0; i < size; i++) {
    uint8_t op = data[i] & 7, arg = i + 1 < size ? data[i + 1] : 0;
    switch (op) {
      case 0: o->pin_changed(p, 0, data[i] >> 3 & 1); break;
      case 1:
        if (!selected) o->spi_select(p, true);
        selected = true;
        n = len = 0;
        break;
      case 2:
        if (selected) o->spi_select(p, false);
        selected = false;
        break;
      case 3:
      case 6: {
        size_t run = op == 3 ? 1 : arg;
        if (op == 6) i++;
        if (!selected) o->spi_select(p, true);
        for (size_t k = 0; k < run && i + 1 < size; k++) {
          uint8_t b = data[++i];
          uint8_t r = o->spi_exchange(p, b);
          if (n < sizeof tx) {
            tx[n] = b;
            rx[n++] = r;
          }
          len++;
        }
        if (!selected) o->spi_select(p, false);
        break;
      }
      case 4: fuzz_now += (uint64_t)arg * 997; i++; break;
      case 5: o->pin_changed(p, 1, data[i] >> 3 & 1); break;
      default:
        if (data[i] & 8) {
          (void)o->set(p, "fault", arg % 5);
          i++;
        } else {
          check(o->screen(p));
          char out[40];
          memset(out, 'x', sizeof out);
          size_t w = o->spi_describe(p, tx, rx, n, len, out, sizeof out);
          if (w >= sizeof out || memchr(out, 0, sizeof out) == NULL) {
            if (w) __builtin_trap();
          }
        }
        break;
    }
  }
  if (selected) o->spi_select(p, false);
  check(o->screen(p));
  for (const char *const *k = o->keys; *k; k++) {
    double v;
    if (o->get(p, *k, &v) != VHW_OK) __builtin_trap();
  }
  o->destroy(p);
  return 0;
}
