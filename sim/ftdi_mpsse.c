#include "ftdi_mpsse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal.h"

/* AN_108 opcodes used here. */
enum {
  OP_SET_LOW = 0x80, OP_GET_LOW = 0x81, OP_SET_HIGH = 0x82, OP_GET_HIGH = 0x83,
  OP_LOOPBACK_OFF = 0x85, OP_DIVISOR = 0x86, OP_SEND_IMMEDIATE = 0x87,
  OP_DIV5_OFF = 0x8A, OP_DIV5_ON = 0x8B, OP_3PHASE_OFF = 0x8D, OP_ADAPTIVE_OFF = 0x97
};
#define PIN_SK 0x0001
#define PIN_DO 0x0002
#define PIN_DI 0x0004
#define MPSSE_MAX_LEN 65536 /* bytes per data shift command */

bool ftdi_clock_pick(const mpsse_chip_info_t *info, uint32_t hz, uint16_t *divisor, bool *div5,
                     uint32_t *actual) {
  /* SCK = base / ((1 + divisor) * 2); H series: base 60 MHz, or 12 MHz with
   * the divide-by-5 prescaler; FT2232D: 12 MHz, no prescaler. Rounding the
   * divisor up keeps the clock at or below the request. */
  uint32_t fast = info->base_hz / 2;
  uint32_t slow = info->h_series ? info->base_hz / 10 : 0;
  uint64_t d = ((uint64_t)fast + hz - 1) / hz; /* 1 + divisor */
  if (d == 0) d = 1;
  bool use5 = false;
  if (d > 65536 && slow) {
    d = ((uint64_t)slow + hz - 1) / hz;
    use5 = true;
  }
  bool ok = d <= 65536;
  if (!ok) d = 65536;
  *divisor = (uint16_t)(d - 1);
  *div5 = use5;
  *actual = (uint32_t)((use5 ? slow : fast) / d);
  return ok;
}

static bool put(ftdi_dev_t *d, const uint8_t *b, size_t n) {
  if (d->ncmd + n > d->capcmd) {
    size_t cap = d->capcmd ? d->capcmd : 512;
    while (cap < d->ncmd + n) cap *= 2;
    uint8_t *p = realloc(d->cmd, cap);
    if (!p) return false;
    d->cmd = p;
    d->capcmd = cap;
  }
  memcpy(d->cmd + d->ncmd, b, n);
  d->ncmd += n;
  return true;
}

static bool put3(ftdi_dev_t *d, uint8_t a, uint8_t b, uint8_t c) {
  uint8_t x[3] = {a, b, c};
  return put(d, x, 3);
}

static bool put_pins(ftdi_dev_t *d, uint16_t value, uint16_t dir, bool high) {
  if (!put3(d, OP_SET_LOW, (uint8_t)value, (uint8_t)dir)) return false;
  if (high && d->info->high_pins)
    return put3(d, OP_SET_HIGH, (uint8_t)(value >> 8), (uint8_t)(dir >> 8));
  return true;
}

/* A chip select edge: the one pin command of the byte the pin is in. */
static bool put_cs(ftdi_dev_t *d, uint16_t value, bool high) {
  return high ? put3(d, OP_SET_HIGH, (uint8_t)(value >> 8), (uint8_t)(d->dir >> 8))
              : put3(d, OP_SET_LOW, (uint8_t)value, (uint8_t)d->dir);
}

static int fail(ftdi_dev_t *d, int hal, const char *fmt, const char *what) {
  snprintf(d->err, sizeof d->err, fmt, d->url, what);
  hal_set_error_detail(hal, d->err);
  return hal;
}

static int drop_link(ftdi_dev_t *d, int rc) {
  char why[200];
  snprintf(why, sizeof why, "%s", d->link ? d->link->err : "closed");
  if (d->link) d->link->ops->close(d->link);
  d->link = NULL;
  d->clock_known = false;
  return fail(d, HAL_EIO,
              rc == FTDI_LINK_GONE      ? "FTDI adapter %s: unplugged (%s)"
              : rc == FTDI_LINK_TIMEOUT ? "FTDI adapter %s: no answer (%s)"
                                        : "FTDI adapter %s: out of step (%s)",
              why);
}

/* Send the batch; read `inlen` answer bytes into `in`. */
static int flush(ftdi_dev_t *d, uint8_t *in, size_t inlen, int timeout_ms) {
  int rc = d->link->ops->xfer(d->link, d->cmd, d->ncmd, in, inlen, timeout_ms);
  d->st.usb_writes++;
  d->st.bytes_out += d->ncmd;
  if (inlen) {
    d->st.usb_reads++;
    d->st.bytes_in += inlen;
  }
  d->ncmd = 0;
  return rc == FTDI_LINK_OK ? HAL_OK : drop_link(d, rc);
}

int ftdi_dev_ensure(ftdi_dev_t *d) {
  if (d->link) return HAL_OK;
  char err[250];
  ftdi_open_rc_t rc;
  d->link = d->emu ? ftdi_emu_open(d->emu, &rc, err, sizeof err)
                   : ftdi_link_usb_open(&d->u, &rc, err, sizeof err);
  d->open_rc = rc;
  if (!d->link) return fail(d, HAL_ENODEV, "FTDI adapter %s: %s", err);
  d->st.opens++;
  d->ncmd = 0;
  /* The device says which chip it is (0403:6010 is an FT2232H or a D). */
  d->info = mpsse_chip_info(d->link->chip);
  /* AN_135: a bad opcode must come back as FA AA; anything else means the
   * chip is not in MPSSE mode, or old bytes were still on their way. */
  uint8_t sync[2];
  if (!put3(d, 0xAA, 0, 0)) return fail(d, HAL_EIO, "FTDI adapter %s: %s", "out of memory");
  d->ncmd = 1;
  int r = flush(d, sync, 2, 500);
  if (r != HAL_OK) return r;
  if (sync[0] != 0xFA || sync[1] != 0xAA) {
    d->link->ops->close(d->link);
    d->link = NULL;
    return fail(d, HAL_EIO, "FTDI adapter %s: %s", "MPSSE did not synchronise (no FA AA)");
  }
  uint8_t init[4];
  size_t n = 0;
  init[n++] = OP_LOOPBACK_OFF;
  if (d->info->h_series) {
    init[n++] = OP_ADAPTIVE_OFF;
    init[n++] = OP_3PHASE_OFF;
  }
  if (!put(d, init, n) || !put_pins(d, d->value, d->dir, true))
    return fail(d, HAL_EIO, "FTDI adapter %s: %s", "out of memory");
  d->clock_known = false;
  return flush(d, NULL, 0, 500);
}

void ftdi_dev_close(ftdi_dev_t *d) {
  if (d->link) {
    d->ncmd = 0;
    if (put_pins(d, 0, 0, true)) flush(d, NULL, 0, 200);
    if (d->link) d->link->ops->close(d->link);
    d->link = NULL;
  }
  free(d->cmd);
  d->cmd = NULL;
  d->ncmd = d->capcmd = 0;
}

/* Data shift opcodes by SPI mode: CPHA = 0 writes on the falling edge and
 * samples on the rising (0x31) with SK idle low, or the reverse (0x34)
 * with SK idle high; CPHA = 1 swaps the edges for the same idle level. */
static uint8_t shift_op(uint8_t mode, bool lsb, bool read) {
  bool write_falling = mode == 0 || mode == 3;
  uint8_t op = read ? 0x30 : 0x10;
  if (write_falling) op |= 0x01;
  else if (read) op |= 0x04;
  if (lsb) op |= 0x08;
  return op;
}

int ftdi_dev_spi(ftdi_dev_t *d, const ftdi_spi_t *s, const uint8_t *tx, uint8_t *rx, size_t len) {
  int r = ftdi_dev_ensure(d);
  if (r != HAL_OK) return r;
  uint16_t div;
  bool div5;
  uint32_t actual;
  if (!ftdi_clock_pick(d->info, s->hz, &div, &div5, &actual))
    return fail(d, HAL_EINVAL, "FTDI adapter %s: %s", "clock below the slowest the chip makes");
  d->ncmd = 0;
  d->st.transactions++;
  if (!d->clock_known || div != d->divisor || div5 != d->div5) {
    if (d->info->h_series && !put(d, (uint8_t[]){div5 ? OP_DIV5_ON : OP_DIV5_OFF}, 1)) goto oom;
    if (!put3(d, OP_DIVISOR, (uint8_t)div, (uint8_t)(div >> 8))) goto oom;
    d->divisor = div;
    d->div5 = div5;
    d->clock_known = true;
  }
  uint16_t cs = (uint16_t)(1u << s->cs_pin);
  bool high = s->cs_pin >= 8;
  uint16_t idle = (s->mode & 2) ? PIN_SK : 0;
  uint16_t v = (uint16_t)((d->value & ~PIN_SK) | idle | cs);
  d->dir = (uint16_t)((d->dir | PIN_SK | PIN_DO | cs) & ~PIN_DI);
  if (v != d->value) { /* the clock's idle level before CS goes low */
    if (!put3(d, OP_SET_LOW, (uint8_t)v, (uint8_t)d->dir)) goto oom; /* SK is ADBUS0 */
  }
  d->value = v;
  for (int i = 0; i < FTDI_CS_SETUP; i++)
    if (!put_cs(d, (uint16_t)(v & ~cs), high)) goto oom;
  uint8_t op = shift_op(s->mode, s->lsb_first, rx != NULL);
  uint8_t ones[256];
  memset(ones, 0xFF, sizeof ones);
  for (size_t off = 0; off < len; off += MPSSE_MAX_LEN) {
    size_t n = len - off < MPSSE_MAX_LEN ? len - off : MPSSE_MAX_LEN;
    if (!put3(d, op, (uint8_t)(n - 1), (uint8_t)((n - 1) >> 8))) goto oom;
    if (tx) {
      if (!put(d, tx + off, n)) goto oom;
    } else {
      for (size_t k = 0; k < n; k += sizeof ones)
        if (!put(d, ones, n - k < sizeof ones ? n - k : sizeof ones)) goto oom;
    }
  }
  for (int i = 0; i < FTDI_CS_HOLD; i++)
    if (!put_cs(d, v, high)) goto oom;
  if (rx && !put(d, (uint8_t[]){OP_SEND_IMMEDIATE}, 1)) goto oom;
  /* Time on the wire plus a second for USB and the host. */
  int timeout = 1000 + (int)((uint64_t)len * 8000u / (actual ? actual : 1));
  return flush(d, rx && len ? rx : NULL, rx ? len : 0, timeout);
oom:
  d->ncmd = 0;
  return fail(d, HAL_EIO, "FTDI adapter %s: %s", "out of memory");
}

int ftdi_dev_set_pins(ftdi_dev_t *d, uint16_t value, uint16_t dir) {
  uint16_t old_v = d->value, old_d = d->dir;
  bool was_open = d->link != NULL;
  d->value = value;
  d->dir = dir;
  int r = ftdi_dev_ensure(d);
  if (r != HAL_OK || !was_open) return r; /* an open sends the new state itself */
  d->ncmd = 0;
  bool lo = (uint8_t)old_v != (uint8_t)value || (uint8_t)old_d != (uint8_t)dir;
  bool hi = (old_v >> 8) != (value >> 8) || (old_d >> 8) != (dir >> 8);
  if (lo && !put3(d, OP_SET_LOW, (uint8_t)value, (uint8_t)dir)) goto oom;
  if (hi && d->info->high_pins &&
      !put3(d, OP_SET_HIGH, (uint8_t)(value >> 8), (uint8_t)(dir >> 8)))
    goto oom;
  if (d->ncmd == 0) return HAL_OK;
  return flush(d, NULL, 0, 500);
oom:
  d->ncmd = 0;
  return fail(d, HAL_EIO, "FTDI adapter %s: %s", "out of memory");
}

int ftdi_dev_read_pins(ftdi_dev_t *d, uint16_t *levels) {
  int r = ftdi_dev_ensure(d);
  if (r != HAL_OK) return r;
  d->ncmd = 0;
  uint8_t in[2] = {0xFF, 0xFF};
  size_t n = d->info->high_pins ? 2 : 1;
  uint8_t cmd[3] = {OP_GET_LOW, OP_GET_HIGH, OP_SEND_IMMEDIATE};
  if (n == 1) cmd[1] = OP_SEND_IMMEDIATE;
  if (!put(d, cmd, n + 1)) return fail(d, HAL_EIO, "FTDI adapter %s: %s", "out of memory");
  r = flush(d, in, n, 500);
  if (r != HAL_OK) return r;
  *levels = (uint16_t)(in[0] | (n == 2 ? in[1] << 8 : 0xFF00));
  return HAL_OK;
}
