#include "ftdi_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ftdi_emu {
  ftdi_url_t url;
  mpsse_t *m;
  char fault[32];
  bool gone;     /* unplugged: every transfer fails until replugged */
  bool open;
  ftdi_link_t link;
  uint8_t *cap;
  size_t ncap;
};

static const char *const faults[] = {"absent", "wrong-id", "permission", "ftdi_sio", "unplug",
                                     NULL};

ftdi_emu_t *ftdi_emu_new(const ftdi_url_t *u, const mpsse_wiring_t *w) {
  ftdi_emu_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->url = *u;
  e->m = mpsse_new(u->chip, w);
  e->cap = malloc(FTDI_EMU_CAPTURE);
  if (!e->m || !e->cap) {
    ftdi_emu_free(e);
    return NULL;
  }
  snprintf(e->fault, sizeof e->fault, "%s", u->fault);
  return e;
}

void ftdi_emu_free(ftdi_emu_t *e) {
  if (!e) return;
  mpsse_free(e->m);
  free(e->cap);
  free(e);
}

mpsse_t *ftdi_emu_engine(ftdi_emu_t *e) { return e->m; }

bool ftdi_emu_fault(ftdi_emu_t *e, const char *name) {
  if (!name) {
    e->fault[0] = '\0';
    e->gone = false;
    return true;
  }
  for (int i = 0; faults[i]; i++)
    if (strcmp(faults[i], name) == 0) {
      snprintf(e->fault, sizeof e->fault, "%s", name);
      if (i < 4) e->gone = false; /* plugged back in, with this problem */
      return true;
    }
  return false;
}

const char *ftdi_emu_fault_name(const ftdi_emu_t *e) { return e->fault[0] ? e->fault : NULL; }

const uint8_t *ftdi_emu_capture(const ftdi_emu_t *e, size_t *len) {
  *len = e->ncap;
  return e->cap;
}

void ftdi_emu_capture_clear(ftdi_emu_t *e) { e->ncap = 0; }

static void capture(ftdi_emu_t *e, const uint8_t *d, size_t n) {
  size_t room = FTDI_EMU_CAPTURE - e->ncap;
  if (n > room) n = room;
  memcpy(e->cap + e->ncap, d, n);
  e->ncap += n;
}

static int emu_xfer(ftdi_link_t *l, const uint8_t *out, size_t outlen, uint8_t *in, size_t inlen,
                    int timeout_ms) {
  ftdi_emu_t *e = (ftdi_emu_t *)((char *)l - offsetof(ftdi_emu_t, link));
  if (e->gone) {
    snprintf(l->err, sizeof l->err, "USB write failed (no device): adapter unplugged?");
    return FTDI_LINK_GONE;
  }
  if (strcmp(e->fault, "unplug") == 0) {
    /* Pulled out with the write half done: the chip loses power. */
    capture(e, out, outlen / 2);
    mpsse_write(e->m, out, outlen / 2);
    mpsse_power_cycle(e->m);
    e->gone = true;
    snprintf(l->err, sizeof l->err, "USB write failed after %zu of %zu bytes (no device): "
                                    "adapter unplugged?", outlen / 2, outlen);
    return FTDI_LINK_GONE;
  }
  capture(e, out, outlen);
  mpsse_write(e->m, out, outlen);
  size_t got = inlen ? mpsse_read(e->m, in, inlen) : 0;
  if (got < inlen) {
    /* Nothing more will come: the real read would give up at the timeout. */
    snprintf(l->err, sizeof l->err, "the adapter answered %zu of %zu bytes within %d ms", got,
             inlen, timeout_ms);
    return FTDI_LINK_TIMEOUT;
  }
  size_t extra = mpsse_available(e->m);
  if (extra) {
    /* Answers nobody asked for: host and chip are out of step (raw
     * commands that answer). Dropped; the next open synchronises again. */
    mpsse_purge(e->m);
    snprintf(l->err, sizeof l->err, "the adapter answered %zu byte(s) more than the %zu expected",
             extra, inlen);
    return FTDI_LINK_EIO;
  }
  return FTDI_LINK_OK;
}

static void emu_close(ftdi_link_t *l) {
  ftdi_emu_t *e = (ftdi_emu_t *)((char *)l - offsetof(ftdi_emu_t, link));
  if (!e->gone) mpsse_enable(e->m, false); /* ftdi_set_bitmode(RESET) */
  e->open = false;
}

static const ftdi_link_ops_t emu_ops = {emu_xfer, emu_close};

ftdi_link_t *ftdi_emu_open(ftdi_emu_t *e, ftdi_open_rc_t *rc, char *err, size_t errlen) {
  const mpsse_chip_info_t *info = mpsse_chip_info(e->url.chip);
  const char *f = e->fault;
  if (e->gone || strcmp(f, "absent") == 0) {
    snprintf(err, errlen, "no adapter %04x:%04x attached (luaos hil list shows what is)",
             info->vid, info->pid);
    *rc = FTDI_OPEN_ABSENT;
    return NULL;
  }
  if (strcmp(f, "wrong-id") == 0) {
    snprintf(err, errlen, "no adapter %04x:%04x attached; the FTDI device there is 0403:6001, "
                          "an FT232R without an MPSSE (check VID:PID with luaos hil list)",
             info->vid, info->pid);
    *rc = FTDI_OPEN_ABSENT;
    return NULL;
  }
  if (strcmp(f, "permission") == 0) {
    snprintf(err, errlen, "permission denied on USB device 001/004 (install the udev rule of "
                          "docs/hil.md, then replug)");
    *rc = FTDI_OPEN_PERMISSION;
    return NULL;
  }
  if (strcmp(f, "ftdi_sio") == 0) {
    snprintf(err, errlen, "interface %d is held by the kernel's ftdi_sio driver or another "
                          "program (unbind it: docs/hil.md)", e->url.iface);
    *rc = FTDI_OPEN_BUSY;
    return NULL;
  }
  /* ftdi_usb_reset, purge, latency timer, bit mode reset then MPSSE. */
  mpsse_enable(e->m, false);
  mpsse_purge(e->m);
  mpsse_enable(e->m, true);
  e->open = true;
  e->link.ops = &emu_ops;
  e->link.chip = e->url.chip;
  e->link.err[0] = '\0';
  *rc = FTDI_OPEN_OK;
  return &e->link;
}
