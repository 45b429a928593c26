/* The MPSSE engine of the FTDI backend: one adapter interface reached
 * through an ftdi_link_t (real USB or the emulator). It keeps a shadow of
 * the pins, picks clock divisors, and turns an SPI transaction into one
 * batch of commands: one USB write, and one read only when bytes come
 * back. */
#ifndef SIM_FTDI_MPSSE_H
#define SIM_FTDI_MPSSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftdi_emu.h"
#include "ftdi_link.h"

typedef struct {
  uint64_t transactions; /* SPI transfers */
  uint64_t usb_writes, usb_reads, bytes_out, bytes_in;
  uint64_t opens;
} ftdi_dev_stats_t;

typedef struct {
  char url[FTDI_URL_MAX];
  ftdi_url_t u;
  ftdi_emu_t *emu;   /* emu:// only (owned by the board layer) */
  ftdi_link_t *link; /* NULL while closed */
  const mpsse_chip_info_t *info;
  uint16_t value, dir; /* what the pins should be (kept across reopening) */
  uint16_t divisor;
  bool div5, clock_known;
  uint8_t *cmd;
  size_t ncmd, capcmd;
  ftdi_dev_stats_t st;
  ftdi_open_rc_t open_rc; /* of the last open attempt */
  char err[420];
} ftdi_dev_t;

/* Clock choice: the highest SPI clock not above `hz`. False when `hz` is
 * below the slowest the chip can do (then *actual is that slowest). */
bool ftdi_clock_pick(const mpsse_chip_info_t *info, uint32_t hz, uint16_t *divisor, bool *div5,
                     uint32_t *actual);

/* Open (if closed), synchronise (bad opcode 0xAA must answer FA AA) and
 * set the clock source, loopback off and the pins. HAL_OK or a HAL error
 * with d->err set. */
int ftdi_dev_ensure(ftdi_dev_t *d);
/* Pins to a safe state (every one an input), bit mode reset, closed. */
void ftdi_dev_close(ftdi_dev_t *d);

typedef struct {
  uint32_t hz;
  uint8_t mode; /* 0..3 */
  bool lsb_first;
  int cs_pin;   /* adapter pin 3..15 */
} ftdi_spi_t;

/* Bytes of the batch around the data, for the figures. */
#define FTDI_CS_SETUP 2 /* CS-low pin commands before the first clock */
#define FTDI_CS_HOLD 1  /* CS-high pin commands after the last clock */

int ftdi_dev_spi(ftdi_dev_t *d, const ftdi_spi_t *s, const uint8_t *tx, uint8_t *rx, size_t len);
/* Set pins (value, direction; bits 0..15) in one write. */
int ftdi_dev_set_pins(ftdi_dev_t *d, uint16_t value, uint16_t dir);
/* Levels of all pins: 0x81 (and 0x83), 0x87, one round trip. */
int ftdi_dev_read_pins(ftdi_dev_t *d, uint16_t *levels);

#endif
