/* GPIO edge events: ports call gpio_irq_post() from interrupt context (or
 * the simulator's stand-in for it); the `gpio` binding drains the ring in
 * the event loop and runs the Lua handlers as tasks. */
#ifndef GPIO_IRQ_H
#define GPIO_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include "evring.h"

/* ISR side. Returns false if the ring was full (the event is counted as
 * dropped, see gpio.dropped()). */
bool gpio_irq_post(int pin, int level, uint64_t time_us);
evring_t *gpio_irq_ring(void);

#endif
