#define _GNU_SOURCE
/* The transport over real USB: every libftdi1 (and libusb) call of the
 * simulator is in this file. */
#include <ftdi.h>
#include <libusb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ftdi_link.h"

typedef struct {
  ftdi_link_t base;
  struct ftdi_context *ctx;
} usb_link_t;

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The MPSSE chip behind a device descriptor (bcdDevice tells the FT2232D
 * and the FT2232H apart: both are 0403:6010). */
static const char *chip_of(uint16_t pid, uint16_t bcd, int *ifaces, mpsse_chip_t *chip) {
  mpsse_chip_t c;
  if (pid == 0x6014 && bcd == 0x0900) c = MPSSE_FT232H;
  else if (pid == 0x6010 && bcd == 0x0700) c = MPSSE_FT2232H;
  else if (pid == 0x6011 && bcd == 0x0800) c = MPSSE_FT4232H;
  else if (pid == 0x6010 && bcd == 0x0500) c = MPSSE_FT2232D;
  else return NULL;
  const mpsse_chip_info_t *i = mpsse_chip_info(c);
  if (ifaces) *ifaces = i->mpsse_ifaces;
  if (chip) *chip = c;
  return i->label;
}

static int usb_xfer(ftdi_link_t *l, const uint8_t *out, size_t outlen, uint8_t *in, size_t inlen,
                    int timeout_ms) {
  usb_link_t *u = (usb_link_t *)l;
  struct ftdi_context *c = u->ctx;
  c->usb_write_timeout = timeout_ms;
  c->usb_read_timeout = timeout_ms;
  if (inlen == 0) {
    int r = ftdi_write_data(c, out, (int)outlen);
    if (r == (int)outlen) return FTDI_LINK_OK;
    snprintf(l->err, sizeof l->err, "USB write failed (%s): adapter unplugged?",
             ftdi_get_error_string(c));
    return FTDI_LINK_GONE;
  }
  /* The write is submitted and the answer read meanwhile: a long transfer
   * fills the chip's buffer towards the host before all of it is written. */
  struct ftdi_transfer_control *tc = ftdi_write_data_submit(c, (unsigned char *)out, (int)outlen);
  if (!tc) {
    snprintf(l->err, sizeof l->err, "USB write failed (%s): adapter unplugged?",
             ftdi_get_error_string(c));
    return FTDI_LINK_GONE;
  }
  size_t got = 0;
  uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
  int rc = FTDI_LINK_OK;
  while (got < inlen) {
    int r = ftdi_read_data(c, in + got, (int)(inlen - got));
    if (r < 0) {
      snprintf(l->err, sizeof l->err, "USB read failed (%s): adapter unplugged?",
               ftdi_get_error_string(c));
      rc = FTDI_LINK_GONE;
      break;
    }
    got += (size_t)r;
    if (r == 0 && mono_ms() > deadline) {
      snprintf(l->err, sizeof l->err, "the adapter answered %zu of %zu bytes within %d ms", got,
               inlen, timeout_ms);
      rc = FTDI_LINK_TIMEOUT;
      break;
    }
  }
  if (rc != FTDI_LINK_OK) {
    struct timeval tv = {0, 100000};
    ftdi_transfer_data_cancel(tc, &tv);
    return rc;
  }
  if (ftdi_transfer_data_done(tc) < 0) {
    snprintf(l->err, sizeof l->err, "USB write failed: adapter unplugged?");
    return FTDI_LINK_GONE;
  }
  return FTDI_LINK_OK;
}

static void usb_close(ftdi_link_t *l) {
  usb_link_t *u = (usb_link_t *)l;
  ftdi_set_bitmode(u->ctx, 0, BITMODE_RESET);
  ftdi_usb_close(u->ctx);
  ftdi_free(u->ctx);
  free(u);
}

static const ftdi_link_ops_t usb_ops = {usb_xfer, usb_close};

ftdi_link_t *ftdi_link_usb_open(const ftdi_url_t *url, ftdi_open_rc_t *rc, char *err, size_t errlen) {
  struct ftdi_context *c = ftdi_new();
  *rc = FTDI_OPEN_ERROR;
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  struct ftdi_device_list *list = NULL, *d;
  int n = ftdi_usb_find_all(c, &list, url->vid, url->pid);
  if (n < 0) {
    snprintf(err, errlen, "cannot list USB devices (%s)", ftdi_get_error_string(c));
    ftdi_free(c);
    return NULL;
  }
  struct libusb_device *dev = NULL;
  mpsse_chip_t chip = MPSSE_FT232H;
  int ifaces = 0;
  bool other = false, noaccess = false;
  for (d = list; d && !dev; d = d->next) {
    char serial[64] = "";
    /* Reading the serial opens the device: without permission it fails. */
    if (ftdi_usb_get_strings(c, d->dev, NULL, 0, NULL, 0, serial, sizeof serial) < 0 &&
        url->serial[0]) {
      noaccess = true;
      continue;
    }
    if (url->serial[0] && strcmp(serial, url->serial) != 0) {
      other = true;
      continue;
    }
    struct libusb_device_descriptor desc;
    if (libusb_get_device_descriptor(d->dev, &desc) != 0) continue;
    if (!chip_of(desc.idProduct, desc.bcdDevice, &ifaces, &chip)) {
      snprintf(err, errlen, "%04x:%04x is an FTDI device without an MPSSE (not an FT232H, "
                            "FT2232H, FT4232H or FT2232D)", url->vid, url->pid);
      *rc = FTDI_OPEN_NOT_MPSSE;
      ftdi_list_free(&list);
      ftdi_free(c);
      return NULL;
    }
    dev = d->dev;
  }
  if (!dev && noaccess) {
    snprintf(err, errlen, "permission denied reading the serial numbers of %04x:%04x devices "
                          "(install the udev rule of docs/hil.md, then replug)", url->vid, url->pid);
    *rc = FTDI_OPEN_PERMISSION;
    ftdi_list_free(&list);
    ftdi_free(c);
    return NULL;
  }
  if (!dev) {
    if (other)
      snprintf(err, errlen, "no adapter %04x:%04x with serial '%s' (others are attached: luaos "
                            "hil list)", url->vid, url->pid, url->serial);
    else
      snprintf(err, errlen, "no adapter %04x:%04x attached (luaos hil list shows what is)",
               url->vid, url->pid);
    *rc = FTDI_OPEN_ABSENT;
    ftdi_list_free(&list);
    ftdi_free(c);
    return NULL;
  }
  if (url->iface > ifaces) {
    snprintf(err, errlen, "the %s has no MPSSE on interface %d", mpsse_chip_info(chip)->label,
             url->iface);
    *rc = FTDI_OPEN_NOT_MPSSE;
    ftdi_list_free(&list);
    ftdi_free(c);
    return NULL;
  }
  /* Open it once ourselves to tell "not allowed" from "taken". */
  libusb_device_handle *h = NULL;
  int ur = libusb_open(dev, &h);
  if (ur == LIBUSB_ERROR_ACCESS) {
    snprintf(err, errlen, "permission denied on USB device %03d/%03d (install the udev rule of "
                          "docs/hil.md, then replug)",
             libusb_get_bus_number(dev), libusb_get_device_address(dev));
    *rc = FTDI_OPEN_PERMISSION;
    ftdi_list_free(&list);
    ftdi_free(c);
    return NULL;
  }
  if (ur == 0) libusb_close(h);
  ftdi_set_interface(c, (enum ftdi_interface)url->iface);
  c->module_detach_mode = AUTO_DETACH_SIO_MODULE;
  int r = ftdi_usb_open_dev(c, dev);
  ftdi_list_free(&list);
  if (r < 0) {
    if (r == -5)
      snprintf(err, errlen, "interface %d is held by the kernel's ftdi_sio driver or another "
                            "program (unbind it: docs/hil.md)", url->iface);
    else
      snprintf(err, errlen, "cannot open: %s", ftdi_get_error_string(c));
    *rc = r == -5 ? FTDI_OPEN_BUSY : FTDI_OPEN_ERROR;
    ftdi_free(c);
    return NULL;
  }
  if (ftdi_usb_reset(c) < 0 || ftdi_tcioflush(c) < 0 || ftdi_set_latency_timer(c, 1) < 0 ||
      ftdi_set_bitmode(c, 0, BITMODE_RESET) < 0 || ftdi_set_bitmode(c, 0, BITMODE_MPSSE) < 0) {
    snprintf(err, errlen, "cannot set MPSSE mode: %s", ftdi_get_error_string(c));
    ftdi_usb_close(c);
    ftdi_free(c);
    return NULL;
  }
  usb_link_t *u = calloc(1, sizeof *u);
  if (!u) {
    ftdi_usb_close(c);
    ftdi_free(c);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  u->base.ops = &usb_ops;
  u->base.chip = chip;
  u->ctx = c;
  *rc = FTDI_OPEN_OK;
  return &u->base;
}

int ftdi_link_usb_list(ftdi_usb_info_t *out, int max, char *err, size_t errlen) {
  struct ftdi_context *c = ftdi_new();
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  struct ftdi_device_list *list = NULL;
  /* VID and PID 0: the FTDI product ids libftdi knows (0403:6001, 6010,
   * 6011, 6014, 6015), so an FT232R shows too, marked as having no MPSSE. */
  int n = ftdi_usb_find_all(c, &list, 0, 0);
  if (n < 0) {
    snprintf(err, errlen, "cannot list USB devices (%s)", ftdi_get_error_string(c));
    ftdi_free(c);
    return -1;
  }
  int k = 0;
  for (struct ftdi_device_list *d = list; d && k < max; d = d->next) {
    ftdi_usb_info_t *i = &out[k++];
    memset(i, 0, sizeof *i);
    struct libusb_device_descriptor desc;
    if (libusb_get_device_descriptor(d->dev, &desc) == 0) {
      i->vid = desc.idVendor;
      i->pid = desc.idProduct;
      i->chip = chip_of(desc.idProduct, desc.bcdDevice, &i->mpsse_ifaces, NULL);
    }
    i->bus = libusb_get_bus_number(d->dev);
    i->address = libusb_get_device_address(d->dev);
    if (ftdi_usb_get_strings(c, d->dev, NULL, 0, i->description, sizeof i->description,
                             i->serial, sizeof i->serial) < 0) {
      snprintf(i->description, sizeof i->description, "(no access: %s)",
               ftdi_get_error_string(c));
      i->serial[0] = '\0';
    }
  }
  ftdi_list_free(&list);
  ftdi_free(c);
  return k;
}
