/* The transport seam under the FTDI backend: one connection to one MPSSE
 * interface of an adapter, as bytes out and bytes in. Two implementations:
 * ftdi_usb.c (libftdi1, the only file that calls it) and ftdi_emu.c (the
 * MPSSE model of virtual-hw/, wired to the board's chip models). */
#ifndef SIM_FTDI_LINK_H
#define SIM_FTDI_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mpsse_model.h"

#define FTDI_URL_MAX 128

/* ftdi://VID:PID[/SERIAL]/IFACE or emu://CHIP[/IFACE][?fault=NAME] */
typedef struct {
  bool emu;
  uint16_t vid, pid;
  char serial[64];   /* "" any */
  int iface;         /* 1 = A, 2 = B, ... */
  mpsse_chip_t chip; /* emu: the chip emulated */
  char fault[32];    /* emu: a fault present from the start */
} ftdi_url_t;

/* Parse; false with a message naming what is wrong. */
bool ftdi_url_parse(const char *s, ftdi_url_t *u, char *err, size_t errlen);

/* Why an open failed (the test runner skips on ABSENT). */
typedef enum {
  FTDI_OPEN_OK = 0,
  FTDI_OPEN_ABSENT,     /* no such device attached */
  FTDI_OPEN_PERMISSION, /* the USB device node is not ours: udev rule */
  FTDI_OPEN_BUSY,       /* the kernel's ftdi_sio (or another program) holds it */
  FTDI_OPEN_NOT_MPSSE,  /* a device that is no MPSSE adapter, or no such interface */
  FTDI_OPEN_ERROR
} ftdi_open_rc_t;

/* Errors of an open link. */
enum { FTDI_LINK_OK = 0, FTDI_LINK_GONE = -1, FTDI_LINK_TIMEOUT = -2, FTDI_LINK_EIO = -3 };

typedef struct ftdi_link ftdi_link_t;
typedef struct {
  /* One round trip: write all of `out`, then read exactly `inlen` bytes
   * (0: none) within `timeout_ms`. The read may run while the write is
   * still going (a long transfer fills the chip's buffer). */
  int (*xfer)(ftdi_link_t *l, const uint8_t *out, size_t outlen, uint8_t *in, size_t inlen,
              int timeout_ms);
  void (*close)(ftdi_link_t *l);
} ftdi_link_ops_t;

struct ftdi_link {
  const ftdi_link_ops_t *ops;
  mpsse_chip_t chip;
  char err[200]; /* words for the last error */
};

/* Open, reset to MPSSE mode, latency timer 1 ms, buffers purged. */
ftdi_link_t *ftdi_link_usb_open(const ftdi_url_t *u, ftdi_open_rc_t *rc, char *err, size_t errlen);

/* One attached device, for `luaos hil list`. */
typedef struct {
  uint16_t vid, pid;
  int bus, address;
  char serial[64], description[96];
  const char *chip; /* "FT232H", ... or NULL when not an MPSSE adapter */
  int mpsse_ifaces;
} ftdi_usb_info_t;

/* Up to `max` FTDI devices (VID 0x0403); -1 with err when USB fails. */
int ftdi_link_usb_list(ftdi_usb_info_t *out, int max, char *err, size_t errlen);

#endif
