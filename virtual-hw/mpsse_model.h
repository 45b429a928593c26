/* A model of an FTDI MPSSE engine (FT232H, FT2232H, FT4232H, FT2232D): it
 * interprets the command stream a host writes (AN_108 opcodes) and answers
 * as the chip does, with its pins wired to the outside world and SPI parts
 * (the same chip models the simulator uses) on SK/DO/DI and a chip-select
 * pin each. It knows nothing of USB or libftdi: bytes in, bytes out. */
#ifndef VHW_MPSSE_MODEL_H
#define VHW_MPSSE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhw.h"

typedef enum { MPSSE_FT232H = 0, MPSSE_FT2232H, MPSSE_FT4232H, MPSSE_FT2232D } mpsse_chip_t;

typedef struct {
  const char *name;   /* "ft232h" */
  const char *label;  /* "FT232H" */
  uint16_t vid, pid;
  int mpsse_ifaces;   /* interfaces with an MPSSE (A, B) */
  int high_pins;      /* ACBUS pins the MPSSE drives (0x82/0x83) */
  uint32_t base_hz;   /* engine clock: 60 MHz (H series, /5 at power-on), 12 MHz (D) */
  bool h_series;      /* 0x8A-0x8F, 0x94-0x9D: H series only */
} mpsse_chip_info_t;

const mpsse_chip_info_t *mpsse_chip_info(mpsse_chip_t chip);
/* By name ("ft232h", letter case ignored), or -1. */
int mpsse_chip_find(const char *name);

/* Adapter pins are numbered 0..7 ADBUS0-7, 8..15 ACBUS0-7. */
#define MPSSE_PINS 16
typedef struct {
  /* Level something outside drives on the pin, or -1 if nothing does
   * (then the chip's internal pull-up makes it read 1). */
  int (*pin_level)(void *ctx, int pin);
  /* The adapter drives the pin (0/1), or let go of it (-1). */
  void (*pin_drive)(void *ctx, int pin, int level);
  void *ctx;
} mpsse_wiring_t;

typedef struct {
  uint64_t commands, bad_opcodes, flushes, bytes_in, bytes_out;
  uint64_t bytes_clocked;  /* SPI bytes shifted to or from the bus */
  uint64_t garbled;        /* shifts in a mode or at a clock the selected part cannot take */
  uint64_t latency_waits;  /* reads that found no flushed data (would wait for the latency timer) */
} mpsse_stats_t;

typedef struct mpsse mpsse_t;

mpsse_t *mpsse_new(mpsse_chip_t chip, const mpsse_wiring_t *w);
void mpsse_free(mpsse_t *m);
/* An SPI part on the bus, selected while `cs_pin` is low. 0, or -1 if full. */
int mpsse_attach(mpsse_t *m, vhw_part_t *part, int cs_pin);

/* Bit mode: MPSSE on (ftdi_set_bitmode 0x02) or off (reset: bytes are
 * UART data, ignored here). Off also releases every pin. */
void mpsse_enable(mpsse_t *m, bool on);
/* Drop both buffers and a pending partial command; ends a wait (0x88). */
void mpsse_purge(mpsse_t *m);
/* Unplugged: state lost, pins released, like power-on afterwards. */
void mpsse_power_cycle(mpsse_t *m);

/* Host to chip (any split: a command may span writes). */
void mpsse_write(mpsse_t *m, const uint8_t *data, size_t n);
/* Chip to host: up to `max` bytes of the answers. */
size_t mpsse_read(mpsse_t *m, uint8_t *out, size_t max);
size_t mpsse_available(const mpsse_t *m);

const mpsse_stats_t *mpsse_stats(const mpsse_t *m);
void mpsse_stats_clear(mpsse_t *m);
/* SPI clock the current divisor, prescaler and three-phase setting give. */
double mpsse_clock_hz(const mpsse_t *m);
/* Output latches and directions (bit n = pin n). */
void mpsse_pins(const mpsse_t *m, uint16_t *value, uint16_t *dir);
bool mpsse_enabled(const mpsse_t *m);
/* Waiting for a pin (0x88/0x89/0x94/0x95): answers stop until a purge. */
bool mpsse_stalled(const mpsse_t *m);

#endif
