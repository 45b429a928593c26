/* The wires: pin levels as a board sees them, from outputs, external
 * drivers (buttons, chip interrupt lines) and pull resistors. */
#ifndef VHW_PINS_H
#define VHW_PINS_H

#include <stdint.h>

typedef enum {
  VHW_PIN_INPUT, VHW_PIN_OUTPUT, VHW_PIN_PULLUP, VHW_PIN_PULLDOWN, VHW_PIN_OPEN_DRAIN
} vhw_pin_mode_t;

typedef struct vhw_pins vhw_pins_t;

/* `changed` is called whenever a pin's effective level changes. */
typedef void (*vhw_pins_changed_fn)(void *ctx, int pin, int level);

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

#endif
