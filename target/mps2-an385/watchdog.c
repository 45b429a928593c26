/* CMSDK APB watchdog, clocked at 25 MHz. After one time-out without a
 * feed it raises its interrupt (wired to NMI on AN385: the handler prints
 * where the CPU is stuck); after a second one it resets the board. The
 * event loop feeds it from a periodic timer (main.c), so only a loop that
 * stops turning, e.g. a Lua task spinning without yielding, trips it. */
#include "board.h"
#include "regs.h"

#define WDOG_TICKS_PER_MS (MPS2_SYSCLK_HZ / 1000u)

static uint32_t wdog_timeout_ms;

void mps2_watchdog_start(uint32_t timeout_ms) {
  if (timeout_ms < 1) timeout_ms = 1;
  if (timeout_ms > 0xFFFFFFFFu / WDOG_TICKS_PER_MS) timeout_ms = 0xFFFFFFFFu / WDOG_TICKS_PER_MS;
  wdog_timeout_ms = timeout_ms;
  WDOG_LOCK = WDOG_UNLOCK_KEY;
  WDOG_LOAD = timeout_ms * WDOG_TICKS_PER_MS;
  WDOG_INTCLR = 1;
  WDOG_CTRL = WDOG_CTRL_INTEN | WDOG_CTRL_RESEN;
  WDOG_LOCK = 0; /* stray writes cannot stop it */
}

void mps2_watchdog_feed(void) {
  WDOG_LOCK = WDOG_UNLOCK_KEY;
  WDOG_INTCLR = 1; /* clears the interrupt and reloads the count */
  WDOG_LOCK = 0;
}

uint32_t mps2_watchdog_timeout_ms(void) { return wdog_timeout_ms; }
