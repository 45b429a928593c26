/* The simulated board: parts from a board description file wired to the
 * HAL (hal_gpio_*, hal_spi_* are implemented here over virtual-hw/), plus
 * traces of SPI transactions and pin changes for tests. */
#ifndef SIM_BOARD_H
#define SIM_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lua.h"
#include "vhw.h"

#define BOARD_MAX_PARTS 32
#define BOARD_MAX_PINS 64
#define BOARD_MAX_BUSES 4
#define BOARD_TRACE_BYTES 64 /* bytes kept per SPI transaction in the trace */

typedef struct {
  uint64_t t_us;
  uint8_t bus, cs;
  uint8_t fault;   /* 1: no device, 2: mode/speed the device cannot do */
  size_t len;      /* full length; tx/rx hold the first BOARD_TRACE_BYTES */
  uint8_t tx[BOARD_TRACE_BYTES], rx[BOARD_TRACE_BYTES];
} board_spi_rec_t;

typedef struct {
  uint64_t t_us;
  uint16_t pin;
  uint8_t level;
  uint8_t output; /* driven by the MCU (vs. from outside) */
} board_gpio_rec_t;

/* Load a board file (Lua source text), evaluated in L in an empty
 * environment. On error returns false and writes a message naming the file
 * and field into err. `text` may be any bytes: the loader is fuzzed. */
bool board_load(lua_State *L, const char *text, size_t len, const char *filename, char *err,
                size_t errlen);
void board_unload(void);
const char *board_name(void);

int board_part_count(void);
vhw_part_t *board_part(int i);
vhw_part_t *board_find_part(const char *name);

/* A part's settings changed (from the control API): re-plan the polling of
 * parts that change by themselves. */
void board_parts_changed(void);

/* Pin level on the wire, and an external drive (-1 release). */
int board_pin_level(int pin);
void board_pin_drive(int pin, int level);

/* Traces: records since the last clear (oldest dropped when full). */
size_t board_spi_trace(const board_spi_rec_t **recs, size_t *first);
void board_spi_trace_clear(void);
size_t board_gpio_trace(const board_gpio_rec_t **recs, size_t *first);
void board_gpio_trace_clear(void);
/* Record GPIO changes from now on (off until called: sim module loaded). */
void board_gpio_trace_listen(bool on);
#define BOARD_TRACE_MAX 1024

#endif
