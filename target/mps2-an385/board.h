/* MPS2 AN385 port: what the port's files share with each other. */
#ifndef MPS2_BOARD_H
#define MPS2_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lua.h"

#define MPS2_BOARD_NAME "mps2-an385"

/* Why the last reset happened (kept in RAM that start-up does not clear). */
typedef enum {
  MPS2_RESET_POWER = 0,
  MPS2_RESET_SOFTWARE,
  MPS2_RESET_WATCHDOG,
  MPS2_RESET_FAULT,
  MPS2_RESET_PANIC
} mps2_reset_cause_t;

/* startup.c */
mps2_reset_cause_t mps2_reset_cause(void);
const char *mps2_reset_cause_name(mps2_reset_cause_t c);
_Noreturn void mps2_reset(mps2_reset_cause_t why);
/* The boot-loop guard: failures (watchdog, fault, panic resets) while
 * the app is starting are counted across resets with the last reason;
 * main.c skips the app after a few. */
typedef enum {
  MPS2_APP_NONE = 0, /* no app running (REPL image, safe mode) */
  MPS2_APP_STARTING, /* the app runs but has not yet run healthily for long */
  MPS2_APP_HEALTHY   /* ran long enough: later failures are not boot failures */
} mps2_app_state_t;
void mps2_app_state(mps2_app_state_t s); /* NONE/HEALTHY also clear the count */
uint32_t mps2_boot_failures(const char **reason);
/* Record why the board is about to reset (hal_panic; faults do it too). */
void mps2_note_failure(const char *what, const char *detail);

/* The MPU guard below the main stack is on (false: no MPU found). */
bool mps2_stack_guarded(void);

/* clock.c: time from the FPGA counter, TIMER0 wake-up alarm (tickless). */
void mps2_clock_init(void);
/* ISRs that post events call this so a racing idle does not sleep. */
void mps2_clock_wake(void);
/* The FPGA's free-running 25 MHz counter (counts from reset). */
uint32_t mps2_counter(void);

/* console.c: UART0. */
void mps2_console_init(void);
/* Polled output, safe in fault handlers (no state, no allocation). */
void mps2_console_putc(char c);
void mps2_console_puts(const char *s);
void mps2_console_puthex(uint32_t v);
/* Register the RX ring with the scheduler; bytes go to `fn`. */
void mps2_console_start(void (*fn)(lua_State *L, int c));
/* Called from the UART's receive interrupt for each Ctrl-C (0x03) as it
 * arrives, before the byte is queued: the board's SIGINT. */
void mps2_console_on_ctrl_c(void (*fn)(void));

/* gpio.c: FPGA I/O LEDs and buttons; TIMER1 polls buttons for edges. */
void mps2_gpio_init(void);

/* watchdog.c */
void mps2_watchdog_start(uint32_t timeout_ms);
void mps2_watchdog_feed(void);
uint32_t mps2_watchdog_timeout_ms(void);

/* main.c: figures taken when the first prompt is printed. */
bool mps2_boot_figures(uint32_t *counter_ticks, size_t *heap_used);

/* random.c: hal_random's sources; the port stirs in what tells boards
 * apart (the MAC) before the network starts. */
void mps2_random_stir(const void *data, size_t len);

/* lua_mps2.c */
int luaopen_mps2(lua_State *L);

#endif
