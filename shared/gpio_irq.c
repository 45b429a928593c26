#include "gpio_irq.h"

/* The ring is statically allocated: ISRs must not allocate. Initialised
 * to zero (empty) at load, so posting before the binding opens is safe. */
static evring_t gpio_irq_events;

bool gpio_irq_post(int pin, int level, uint64_t time_us) {
  evring_event_t ev = {EVRING_GPIO, (uint8_t)(level != 0), (uint16_t)pin, 0, time_us};
  return evring_put(&gpio_irq_events, &ev);
}

evring_t *gpio_irq_ring(void) { return &gpio_irq_events; }
