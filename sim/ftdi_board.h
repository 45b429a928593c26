/* Hardware in the loop: SPI buses and pins of the board that live on FTDI
 * adapters (or their emulation) instead of virtual parts. sim/board.c
 * parses the board file and dispatches to these functions for the buses
 * and pins that are ours; everything else about HIL is here. */
#ifndef SIM_FTDI_BOARD_H
#define SIM_FTDI_BOARD_H

#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "ftdi_mpsse.h"
#include "hal/hal_gpio.h"
#include "hal/hal_spi.h"
#include "lua.h"

#define FTDI_MAX_ADAPTERS 8
/* Edge callbacks on adapter pins come from polling (the MPSSE has no
 * interrupts): one pin read per adapter every FTDI_POLL_US of device time
 * while a handler is registered. */
#define FTDI_POLL_US 1000

/* Board file, called by sim/board.c (errors raised as "board file F: ..."):
 * `spi` given as a table {[0] = {ftdi = URL, cs = {[0] = "ADBUS3"}}, ...}:
 * returns the bus count. */
int ftdi_board_spi(lua_State *L, int t, const char *file);
/* A `pins` entry NAME = {ftdi = URL, pin = "ADBUS4"} at index v. */
void ftdi_board_pin_entry(lua_State *L, int v, const char *name, const char *file);
/* The next HIL pin (in name order) without a number, or -1; then number it. */
int ftdi_board_unnumbered(const char **name);
void ftdi_board_set_number(int k, int pin);
/* After the parts: wire the parts on adapter buses to the emulated chips,
 * check chip selects and pin conflicts. */
void ftdi_board_finish(lua_State *L, const char *file);
/* Board unload: pins to a safe state, adapters closed. */
void ftdi_board_unload(void);

bool ftdi_board_has_bus(int bus);
bool ftdi_board_has_pin(int pin);

int ftdi_board_gpio_mode(int pin, hal_gpio_mode_t mode);
int ftdi_board_gpio_read(int pin);
int ftdi_board_gpio_write(int pin, int level);
int ftdi_board_gpio_irq(int pin, hal_gpio_edge_t edge);
int ftdi_board_spi_configure(int bus, const hal_spi_config_t *cfg);
int ftdi_board_spi_transfer(int bus, const hal_spi_config_t *cfg, const uint8_t *tx, uint8_t *rx,
                            size_t len, board_spi_rec_t *r);

/* For the hil module, `luaos hil check` and the test runner. */
int ftdi_board_adapter_count(void);
ftdi_dev_t *ftdi_board_adapter(int i);
/* The adapter of a bus, or by URL; NULL if none. */
ftdi_dev_t *ftdi_board_find(const char *url);
ftdi_dev_t *ftdi_board_bus_adapter(int bus);
/* Adapter pin carrying chip select `cs` of `bus`, or -1. */
int ftdi_board_cs_pin(int bus, int cs);
/* Adapter pin name: "ADBUS3". */
const char *ftdi_pin_name(int apin);

#endif
