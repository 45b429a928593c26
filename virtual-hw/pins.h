/* The wires: pin levels as a board sees them, from outputs, external
 * drivers (buttons, chip interrupt lines) and pull resistors. */
#ifndef VHW_PINS_H
#define VHW_PINS_H

#include <stdint.h>

typedef enum {
  VHW_PIN_INPUT, VHW_PIN_OUTPUT, VHW_PIN_PULLUP, VHW_PIN_PULLDOWN, VHW_PIN_OPEN_DRAIN
} vhw_pin_mode_t;

typedef struct vhw_pins vhw_pins_t;

/* `changed` is called whenever a pin's effective level changes (except
 * through vhw_pins_write_pp, whose caller reports the change itself). */
typedef void (*vhw_pins_changed_fn)(void *ctx, int pin, int level);

/* Public only for the inline write fast path below: use the functions. */
typedef struct {
  uint8_t mode;
  int8_t latch;
  int8_t drive;     /* -1: nothing external */
  int8_t level;     /* last effective level reported */
  uint32_t changes; /* effective level changes since the pins were created */
} vhw_pin_t;

struct vhw_pins {
  int count;
  vhw_pins_changed_fn changed;
  void *ctx;
  vhw_pin_t pin[];
};

vhw_pins_t *vhw_pins_new(int count, vhw_pins_changed_fn changed, void *ctx);
void vhw_pins_free(vhw_pins_t *p);
int vhw_pins_count(const vhw_pins_t *p);
void vhw_pins_set_mode(vhw_pins_t *p, int pin, vhw_pin_mode_t mode);
vhw_pin_mode_t vhw_pins_mode(const vhw_pins_t *p, int pin);
/* Output latch (what the MCU drives). */
void vhw_pins_write(vhw_pins_t *p, int pin, int level);
int vhw_pins_latch(const vhw_pins_t *p, int pin);
/* An external driver: 0/1, or -1 to let go. */
void vhw_pins_drive(vhw_pins_t *p, int pin, int level);
/* The level on the wire. */
int vhw_pins_level(const vhw_pins_t *p, int pin);
/* How many times the level on the wire changed (an LED's "changes"). */
uint32_t vhw_pins_changes(const vhw_pins_t *p, int pin);

/* An MCU write on the path of every gpio.write: a push-pull output's wire
 * is its latch, so this is a few stores. Returns 1 if the level changed
 * (`changed` is NOT called: the caller records it), 0 if not, and -1
 * without doing anything if the pin is not a push-pull output (then call
 * vhw_pins_write). */
static inline int vhw_pins_write_pp(vhw_pins_t *p, int pin, int level) {
  vhw_pin_t *x = &p->pin[pin];
  if (x->mode != VHW_PIN_OUTPUT) return -1;
  int8_t v = (int8_t)(level != 0);
  x->latch = v;
  if (x->level == v) return 0;
  x->level = v;
  x->changes++;
  return 1;
}

#endif
