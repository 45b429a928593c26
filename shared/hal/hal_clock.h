/* Monotonic clock and idle wait. */
#ifndef HAL_CLOCK_H
#define HAL_CLOCK_H

#include "hal.h"

/* Microseconds since boot, monotonic. */
uint64_t hal_clock_us(void);

/* Sleep until `deadline_us` (hal_clock_us time) or until an interrupt
 * source posts an event, whichever comes first. UINT64_MAX: no deadline.
 * The host polls its file descriptors here; boards execute WFI. */
void hal_clock_idle(uint64_t deadline_us);

/* Unrecoverable error: print and stop (host: exit, board: reset). */
void hal_panic(const char *msg);

#endif
