#include "pins.h"

#include <stdlib.h>

static int effective(const vhw_pin_t *p) {
  switch (p->mode) {
    case VHW_PIN_OUTPUT: return p->latch;
    case VHW_PIN_OPEN_DRAIN:
      /* Pulls low when 0; released it floats up (external pull-up). */
      if (p->latch == 0) return 0;
      return p->drive >= 0 ? p->drive : 1;
    case VHW_PIN_PULLUP: return p->drive >= 0 ? p->drive : 1;
    case VHW_PIN_PULLDOWN: return p->drive >= 0 ? p->drive : 0;
    default: return p->drive >= 0 ? p->drive : 0; /* floating reads low */
  }
}

static void update(vhw_pins_t *ps, int i) {
  int lv = effective(&ps->pin[i]);
  if (lv != ps->pin[i].level) {
    ps->pin[i].level = (int8_t)lv;
    ps->pin[i].changes++;
    if (ps->changed) ps->changed(ps->ctx, i, lv);
  }
}

vhw_pins_t *vhw_pins_new(int count, vhw_pins_changed_fn changed, void *ctx) {
  vhw_pins_t *ps = calloc(1, sizeof *ps + (size_t)count * sizeof(vhw_pin_t));
  if (!ps) return NULL;
  ps->count = count;
  ps->changed = changed;
  ps->ctx = ctx;
  for (int i = 0; i < count; i++) {
    ps->pin[i].mode = VHW_PIN_INPUT;
    ps->pin[i].drive = -1;
    ps->pin[i].level = 0;
  }
  return ps;
}

void vhw_pins_free(vhw_pins_t *p) { free(p); }
int vhw_pins_count(const vhw_pins_t *p) { return p->count; }

void vhw_pins_set_mode(vhw_pins_t *p, int pin, vhw_pin_mode_t mode) {
  p->pin[pin].mode = (uint8_t)mode;
  update(p, pin);
}

vhw_pin_mode_t vhw_pins_mode(const vhw_pins_t *p, int pin) {
  return (vhw_pin_mode_t)p->pin[pin].mode;
}

void vhw_pins_write(vhw_pins_t *p, int pin, int level) {
  int r = vhw_pins_write_pp(p, pin, level);
  if (r >= 0) {
    if (r && p->changed) p->changed(p->ctx, pin, p->pin[pin].level);
    return;
  }
  p->pin[pin].latch = (int8_t)(level != 0);
  update(p, pin);
}

int vhw_pins_latch(const vhw_pins_t *p, int pin) { return p->pin[pin].latch; }

void vhw_pins_drive(vhw_pins_t *p, int pin, int level) {
  p->pin[pin].drive = (int8_t)(level < 0 ? -1 : level != 0);
  update(p, pin);
}

int vhw_pins_level(const vhw_pins_t *p, int pin) { return p->pin[pin].level; }
uint32_t vhw_pins_changes(const vhw_pins_t *p, int pin) { return p->pin[pin].changes; }
