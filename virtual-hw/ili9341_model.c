/* ILI9341 model: the 4-line serial interface (chip select, D/C on a GPIO,
 * 8-bit bytes), the command set a driver uses (level 1 commands of the
 * datasheet, section 8.2), a 240x320 RGB565 frame memory written through
 * the CASET/PASET window in the MADCTL scan order, and the datasheet's
 * timing rules a driver can break: 5 ms after SWRESET, a hardware reset or
 * SLPOUT/SLPIN before the next command, 120 ms after a reset or SLPIN
 * before SLPOUT, 120 ms after SLPOUT before SLPIN, a reset pulse of at
 * least 10 us. The datasheet leaves what the chip does then undefined;
 * this model ignores the command (and its parameters) and counts a
 * violation, so a driver that does not wait sees its picture go missing.
 *
 * Simplifications (documented in docs/ili9341.md): reads of more than one
 * byte start with a dummy byte (the chip uses one dummy clock); level 2
 * commands (power, gamma, frame rate) are accepted and have no effect;
 * partial and idle modes are recorded, not shown. */
#include "ili9341_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  W = VHW_ILI9341_WIDTH,
  H = VHW_ILI9341_HEIGHT,
  RESET_BUSY_US = 5000,     /* SWRESET / hardware reset -> next command */
  SLEEP_BUSY_US = 5000,     /* SLPOUT / SLPIN -> next command */
  SLEEP_GAP_US = 120000,    /* reset or SLPIN -> SLPOUT, SLPOUT -> SLPIN */
  RESET_PULSE_US = 10,      /* shortest RESX low pulse that resets */
  MAX_ARGS = 16,
  RING = 32,                /* transactions remembered for spi_describe */
  DESC = 96
};

enum {
  MAD_MY = 0x80, MAD_MX = 0x40, MAD_MV = 0x20, MAD_ML = 0x10, MAD_BGR = 0x08, MAD_MH = 0x04
};

typedef enum { ST_IDLE, ST_ARGS, ST_IGNORE, ST_WRITE, ST_READ } ili_state_t;

typedef struct {
  size_t len;
  uint8_t n, tx[8];
  char text[DESC];
} ili_desc_t;

typedef struct {
  vhw_part_t base;
  uint16_t mem[W * H];   /* frame memory, glass order, colours as shown */
  uint16_t glass[W * H]; /* what screen() shows while inverted */
  vhw_screen_t screen;
  bool dirty;            /* pixels changed since screen() last looked */
  uint32_t glass_gen;    /* generation `glass` was computed for */
  /* Pins. */
  bool dc, in_reset;
  uint64_t reset_fell;
  /* Registers. */
  uint8_t madctl, colmod;
  bool sleeping, disp_on, inverted, idle, partial;
  bool scrolling;             /* vertical scrolling mode (VSCRSADD .. NORON/PTLON) */
  uint16_t tfa, vsa, bfa, vsp; /* VSCRDEF areas, VSCRSADD start line */
  uint16_t sc, ec, sp, ep; /* address window (in the MADCTL's axes) */
  uint16_t col, page;      /* memory pointer */
  /* Command parsing. */
  ili_state_t st;
  uint8_t cmd;
  uint8_t args[MAX_ARGS];
  int nargs;
  uint8_t px[3];
  int npx;
  uint8_t rbuf[8];
  int rlen, rpos;
  bool rdummy;   /* rbuf[0] is the dummy byte */
  bool ram_read; /* reading frame memory (RAMRD/RAMRDC) */
  int ram_phase; /* dummy, then R, G, B per pixel */
  uint16_t ram_px;
  /* Timing. */
  uint64_t busy_until, slpout_ok_at, slpin_ok_at;
  uint32_t busy_len; /* us the last busy period lasts */
  const char *busy_why;
  /* Counters. */
  uint32_t violations, commands, unknown, pixels;
  /* The transaction in progress and the last ones, for spi_describe. */
  ili_desc_t cur;
  size_t cur_len;
  uint32_t cur_px;
  ili_desc_t ring[RING];
  unsigned ring_n;
} ili_t;

/* ---- command names ---- */

typedef struct {
  uint8_t code;
  const char *name;
  int8_t nargs; /* parameters that take effect; -1: read command */
} ili_cmd_info_t;

static const ili_cmd_info_t ili_cmds[] = {
    {0x00, "NOP", 0},        {0x01, "SWRESET", 0},    {0x04, "RDDID", -1},
    {0x09, "RDDST", -1},     {0x0A, "RDDPM", -1},     {0x0B, "RDDMADCTL", -1},
    {0x0C, "RDDCOLMOD", -1}, {0x0D, "RDDIM", -1},     {0x0E, "RDDSM", -1},
    {0x0F, "RDDSDR", -1},    {0x10, "SLPIN", 0},      {0x11, "SLPOUT", 0},
    {0x12, "PTLON", 0},      {0x13, "NORON", 0},      {0x20, "INVOFF", 0},
    {0x21, "INVON", 0},      {0x26, "GAMSET", 1},     {0x28, "DISPOFF", 0},
    {0x29, "DISPON", 0},     {0x2A, "CASET", 4},      {0x2B, "PASET", 4},
    {0x2C, "RAMWR", 0},      {0x2E, "RAMRD", -1},     {0x30, "PTLAR", 4},
    {0x33, "VSCRDEF", 6},    {0x34, "TEOFF", 0},      {0x35, "TEON", 1},
    {0x36, "MADCTL", 1},     {0x37, "VSCRSADD", 2},   {0x38, "IDMOFF", 0},
    {0x39, "IDMON", 0},      {0x3A, "COLMOD", 1},     {0x3C, "RAMWRC", 0},
    {0x3E, "RAMRDC", -1},    {0x51, "WRDISBV", 1},    {0x52, "RDDISBV", -1},
    {0x53, "WRCTRLD", 1},    {0x54, "RDCTRLD", -1},   {0x55, "WRCABC", 1},
    {0x56, "RDCABC", -1},    {0xB1, "FRMCTR1", 2},    {0xB4, "INVTR", 1},
    {0xB6, "DISCTRL", 4},    {0xC0, "PWCTRL1", 1},    {0xC1, "PWCTRL2", 1},
    {0xC5, "VMCTRL1", 2},    {0xC7, "VMCTRL2", 1},    {0xD3, "RDID4", -1},
    {0xDA, "RDID1", -1},     {0xDB, "RDID2", -1},     {0xDC, "RDID3", -1},
    {0xE0, "PGAMCTRL", 15},  {0xE1, "NGAMCTRL", 15},  {0xF2, "ENABLE3G", 1},
    {0xF6, "IFCTL", 3},
};

static const ili_cmd_info_t *ili_cmd_find(uint8_t code) {
  for (size_t i = 0; i < sizeof ili_cmds / sizeof ili_cmds[0]; i++)
    if (ili_cmds[i].code == code) return &ili_cmds[i];
  return NULL;
}

/* ---- description of the transaction in progress ---- */

static void ili_say(ili_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ili_say(ili_t *d, const char *fmt, ...) {
  size_t n = strlen(d->cur.text);
  if (n + 1 >= sizeof d->cur.text) return;
  if (n) d->cur.text[n++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->cur.text + n, sizeof d->cur.text - n, fmt, ap);
  va_end(ap);
}

static const char *ili_cmd_name(uint8_t code, char *buf, size_t n) {
  const ili_cmd_info_t *c = ili_cmd_find(code);
  if (c) return c->name;
  snprintf(buf, n, "cmd 0x%02x", code);
  return buf;
}

/* ---- reset and power ---- */

static double ili_ms_since(uint64_t now, uint64_t t) { return (double)(now - t) / 1000.0; }

static void ili_defaults(ili_t *d, uint64_t now, const char *why) {
  d->madctl = 0;
  d->colmod = 0x66; /* 18 bits per pixel after reset */
  d->sleeping = true;
  d->disp_on = false;
  d->inverted = d->idle = d->partial = d->scrolling = false;
  d->tfa = 0;
  d->vsa = H;
  d->bfa = 0;
  d->vsp = 0;
  d->sc = 0;
  d->ec = W - 1;
  d->sp = 0;
  d->ep = H - 1;
  d->col = d->page = 0;
  d->st = ST_IDLE;
  d->npx = 0;
  d->busy_until = now + RESET_BUSY_US;
  d->busy_len = RESET_BUSY_US;
  d->busy_why = why;
  d->slpout_ok_at = now + SLEEP_GAP_US;
  d->slpin_ok_at = 0;
  d->dirty = true;
}

static void ili_power_on(ili_t *d) {
  memset(d->mem, 0, sizeof d->mem); /* (random on the chip) */
  ili_defaults(d, vhw_now(&d->base), "power-on");
}

/* The board's own power-on: long past when the app's first line runs on a
 * real board (boot takes longer than the chip's reset), so no wait. */
static void ili_first_power_on(ili_t *d) {
  ili_power_on(d);
  d->busy_until = d->slpout_ok_at = 0;
}

/* ---- frame memory ---- */

/* Memory pointer (column, page in the MADCTL axes) -> frame memory
 * index, or -1 outside the glass. MV exchanges the axes, then MX and MY
 * mirror the glass's columns and rows. */
static int ili_map(const ili_t *d, unsigned c, unsigned pg) {
  unsigned x, y;
  if (d->madctl & MAD_MV) {
    x = pg;
    y = c;
  } else {
    x = c;
    y = pg;
  }
  if (x >= W || y >= H) return -1;
  if (d->madctl & MAD_MX) x = W - 1 - x;
  if (d->madctl & MAD_MY) y = H - 1 - y;
  return (int)(y * W + x);
}

static void ili_advance(ili_t *d) {
  if (d->col < d->ec) {
    d->col++;
    return;
  }
  d->col = d->sc;
  d->page = d->page < d->ep ? (uint16_t)(d->page + 1) : d->sp;
}

static void ili_put_pixel(ili_t *d, uint16_t v) {
  if (d->madctl & MAD_BGR) /* the data's red and blue swap places */
    v = (uint16_t)((v & 0x07E0) | (v >> 11) | ((v & 0x1F) << 11));
  int i = ili_map(d, d->col, d->page);
  if (i >= 0 && d->mem[i] != v) {
    d->mem[i] = v;
    d->dirty = true;
  }
  d->pixels++;
  d->cur_px++;
  ili_advance(d);
}

static void ili_write_byte(ili_t *d, uint8_t b) {
  d->px[d->npx++] = b;
  if ((d->colmod & 7) == 5) { /* 16 bits: RGB565, high byte first */
    if (d->npx == 2) {
      ili_put_pixel(d, (uint16_t)(d->px[0] << 8 | d->px[1]));
      d->npx = 0;
    }
  } else if (d->npx == 3) { /* 18 bits: R, G, B, 6 bits each, left aligned */
    ili_put_pixel(d, (uint16_t)((d->px[0] >> 3) << 11 | (d->px[1] >> 2) << 5 | d->px[2] >> 3));
    d->npx = 0;
  }
}

/* RAMRD: a dummy byte, then R, G, B of each pixel (6 bits, left aligned),
 * whatever COLMOD says, as the chip does over SPI. */
static uint8_t ili_ram_read_byte(ili_t *d) {
  if (d->ram_phase == 0) {
    d->ram_phase = 1;
    return 0;
  }
  if (d->ram_phase == 1) {
    int i = ili_map(d, d->col, d->page);
    d->ram_px = i >= 0 ? d->mem[i] : 0;
    ili_advance(d);
  }
  uint16_t v = d->ram_px;
  uint8_t out;
  if (d->ram_phase == 1)
    out = (uint8_t)(((v >> 11) << 1 | (v >> 15)) << 2);
  else if (d->ram_phase == 2)
    out = (uint8_t)(((v >> 5) & 0x3F) << 2);
  else
    out = (uint8_t)(((v & 0x1F) << 1 | ((v >> 4) & 1)) << 2);
  d->ram_phase = d->ram_phase == 3 ? 1 : d->ram_phase + 1;
  return out;
}

/* ---- commands ---- */

static void ili_start_read(ili_t *d, uint8_t code) {
  uint8_t *r = d->rbuf;
  int n = 0;
  bool dummy = false;
  switch (code) {
    case 0x04: /* RDDID: manufacturer, version, driver id (NV memory, unset) */
      dummy = true;
      r[0] = r[1] = r[2] = 0;
      n = 3;
      break;
    case 0x09: /* RDDST */
      dummy = true;
      r[0] = (uint8_t)((!d->sleeping) << 7 | (d->madctl & 0xFC) >> 1);
      r[1] = (uint8_t)((d->colmod & 7) << 4 | d->idle << 3 | d->partial << 2 |
                       (!d->sleeping) << 1 | !d->partial);
      r[2] = (uint8_t)(d->inverted << 5 | d->disp_on << 2);
      r[3] = 0;
      n = 4;
      break;
    case 0x0A: /* RDDPM */
      r[0] = (uint8_t)((!d->sleeping) << 7 | d->idle << 6 | d->partial << 5 |
                       (!d->sleeping) << 4 | (!d->partial) << 3 | d->disp_on << 2);
      n = 1;
      break;
    case 0x0B: r[0] = d->madctl; n = 1; break;
    case 0x0C: r[0] = d->colmod; n = 1; break;
    case 0x0D: r[0] = (uint8_t)(d->inverted << 5); n = 1; break;
    case 0xD3: dummy = true; r[0] = 0x00; r[1] = 0x93; r[2] = 0x41; n = 3; break;
    case 0x2E:
    case 0x3E:
      d->ram_read = true;
      d->ram_phase = 0;
      if (code == 0x2E) {
        d->col = d->sc;
        d->page = d->sp;
      }
      break;
    default: r[0] = 0; n = 1; break; /* other reads: registers we keep at 0 */
  }
  if (dummy) {
    memmove(r + 1, r, (size_t)n);
    r[0] = 0;
    n++;
  }
  d->rdummy = dummy;
  ili_say(d, "->");
  d->rlen = n;
  d->rpos = 0;
  d->st = ST_READ;
}

static void ili_apply_args(ili_t *d) {
  uint8_t *a = d->args;
  char nb[16];
  const char *name = ili_cmd_name(d->cmd, nb, sizeof nb);
  switch (d->cmd) {
    case 0x2A:
    case 0x2B: {
      uint16_t s = (uint16_t)(a[0] << 8 | a[1]), e = (uint16_t)(a[2] << 8 | a[3]);
      if (s > e) {
        d->violations++;
        ili_say(d, "%s %u..%u refused (start > end)", name, s, e);
        return;
      }
      if (d->cmd == 0x2A) {
        d->sc = s;
        d->ec = e;
      } else {
        d->sp = s;
        d->ep = e;
      }
      ili_say(d, "%s %u..%u", name, s, e);
      return;
    }
    case 0x36:
      d->madctl = a[0];
      ili_say(d, "MADCTL 0x%02x%s%s%s%s", a[0], a[0] & MAD_MY ? " MY" : "", a[0] & MAD_MX ? " MX" : "",
          a[0] & MAD_MV ? " MV" : "", a[0] & MAD_BGR ? " BGR" : "");
      return;
    case 0x33: {
      uint16_t t = (uint16_t)(a[0] << 8 | a[1]), v = (uint16_t)(a[2] << 8 | a[3]),
               b = (uint16_t)(a[4] << 8 | a[5]);
      if ((unsigned)t + v + b != H) { /* the datasheet requires TFA + VSA + BFA = 320 */
        d->violations++;
        ili_say(d, "VSCRDEF %u+%u+%u refused (must add up to %d)", t, v, b, H);
        return;
      }
      d->tfa = t;
      d->vsa = v;
      d->bfa = b;
      d->dirty = true;
      ili_say(d, "VSCRDEF top %u, scroll %u, bottom %u", t, v, b);
      return;
    }
    case 0x37:
      d->vsp = (uint16_t)(a[0] << 8 | a[1]);
      d->scrolling = true;
      d->dirty = true;
      ili_say(d, "VSCRSADD %u", d->vsp);
      return;
    case 0x3A:
      d->colmod = a[0];
      ili_say(d, "COLMOD 0x%02x (%s)", a[0],
          (a[0] & 7) == 5 ? "16 bit" : (a[0] & 7) == 6 ? "18 bit" : "undefined: 18 bit");
      return;
    default: {
      ili_say(d, "%s", name);
      for (int i = 0; i < d->nargs && i < 4; i++) ili_say(d, "%02x", a[i]);
      if (d->nargs > 4) ili_say(d, "..");
      return;
    }
  }
}

static void ili_command(ili_t *d, uint8_t code) {
  uint64_t now = vhw_now(&d->base);
  char nb[16];
  const char *name = ili_cmd_name(code, nb, sizeof nb);
  d->npx = 0; /* a command ends a pixel stream; a half pixel is lost */
  d->commands++;
  if (now < d->busy_until) {
    d->violations++;
    d->st = ST_IGNORE;
    ili_say(d, "%s ignored (%.1f ms after %s, needs %u)", name,
        ili_ms_since(now, d->busy_until - d->busy_len), d->busy_why, (unsigned)(d->busy_len / 1000));
    return;
  }
  const ili_cmd_info_t *c = ili_cmd_find(code);
  d->cmd = code;
  d->nargs = 0;
  if (!c) {
    d->unknown++;
    d->st = ST_IGNORE; /* level 2 or undocumented: parameters ignored */
    ili_say(d, "%s", name);
    return;
  }
  if (c->nargs < 0) {
    ili_say(d, "%s", name);
    ili_start_read(d, code);
    return;
  }
  if (c->nargs > 0) {
    d->st = ST_ARGS;
    if (d->cur_len > 1 || d->cur.text[0] == 0) ili_say(d, "%s", name);
    return;
  }
  d->st = ST_IDLE;
  switch (code) {
    case 0x01:
      ili_defaults(d, now, "SWRESET");
      break;
    case 0x10:
      if (now < d->slpin_ok_at) {
        d->violations++;
        ili_say(d, "SLPIN refused (%.1f ms after SLPOUT, needs 120)",
            ili_ms_since(now, d->slpin_ok_at - SLEEP_GAP_US));
        return;
      }
      d->sleeping = true;
      d->busy_until = now + SLEEP_BUSY_US;
      d->busy_len = SLEEP_BUSY_US;
      d->busy_why = "SLPIN";
      d->slpout_ok_at = now + SLEEP_GAP_US;
      d->dirty = true;
      break;
    case 0x11:
      if (now < d->slpout_ok_at) {
        d->violations++;
        ili_say(d, "SLPOUT refused (needs 120 ms after reset or SLPIN, %.1f ms early)",
            ili_ms_since(d->slpout_ok_at, now));
        return;
      }
      if (d->sleeping) {
        d->sleeping = false;
        d->busy_until = now + SLEEP_BUSY_US;
        d->busy_len = SLEEP_BUSY_US;
        d->busy_why = "SLPOUT";
        d->slpin_ok_at = now + SLEEP_GAP_US;
        d->dirty = true;
      }
      break;
    case 0x12: d->partial = true; d->scrolling = false; d->dirty = true; break;
    case 0x13: d->partial = false; d->scrolling = false; d->dirty = true; break;
    case 0x20: d->inverted = false; d->dirty = true; break;
    case 0x21: d->inverted = true; d->dirty = true; break;
    case 0x28: d->disp_on = false; d->dirty = true; break;
    case 0x29: d->disp_on = true; d->dirty = true; break;
    case 0x38: d->idle = false; break;
    case 0x39: d->idle = true; break;
    case 0x2C:
      d->col = d->sc;
      d->page = d->sp;
      d->st = ST_WRITE;
      break;
    case 0x3C: d->st = ST_WRITE; break;
    default: break;
  }
  ili_say(d, "%s", name);
}

static void ili_data(ili_t *d, uint8_t b) {
  switch (d->st) {
    case ST_WRITE: ili_write_byte(d, b); break;
    case ST_ARGS: {
      const ili_cmd_info_t *c = ili_cmd_find(d->cmd);
      d->args[d->nargs++] = b;
      if (c && d->nargs >= c->nargs) {
        ili_apply_args(d);
        d->st = ST_IGNORE; /* more parameters than the command takes */
      }
      break;
    }
    default: break; /* parameters of an ignored command, stray data */
  }
}

/* ---- SPI ---- */

static void ili_select(vhw_part_t *p, bool active) {
  ili_t *d = (ili_t *)p;
  if (active) {
    memset(&d->cur, 0, sizeof d->cur);
    d->cur_len = 0;
    d->cur_px = 0;
    return;
  }
  /* CSX high ends a read; a command and its parameters may span
   * several selections. */
  if (d->st == ST_READ) {
    if (d->ram_read && d->cur_len > 2)
      ili_say(d, "%u pixels", (unsigned)((d->cur_len - 2) / 3));
    d->st = ST_IDLE;
    d->ram_read = false;
  }
  if (d->cur_px) {
    char nb[16];
    if (d->cur.text[0])
      ili_say(d, "%u px", (unsigned)d->cur_px);
    else
      ili_say(d, "%s data: %u px", ili_cmd_name(d->cmd, nb, sizeof nb), (unsigned)d->cur_px);
  } else if (!d->cur.text[0] && d->cur_len) {
    ili_say(d, "%s", p->fault ? vhw_fault_names[p->fault - 1]
                 : d->in_reset ? "(held in reset)" : "data (ignored)");
  }
  d->cur.len = d->cur_len;
  d->ring[d->ring_n++ % RING] = d->cur;
}

static uint8_t ili_exchange(vhw_part_t *p, uint8_t mosi) {
  ili_t *d = (ili_t *)p;
  if (d->cur_len < sizeof d->cur.tx) d->cur.tx[d->cur.n++] = mosi;
  d->cur_len++;
  if (p->fault == VHW_FAULT_DISCONNECT) return 0xFF;
  if (p->fault == VHW_FAULT_UNPOWERED) return 0x00;
  if (d->in_reset) return 0xFF; /* in reset: the interface is held */
  if (d->st == ST_READ) { /* SDO drives until CSX goes high; SDA is not looked at */
    if (d->ram_read) return ili_ram_read_byte(d);
    if (d->rpos < d->rlen) {
      uint8_t v = d->rbuf[d->rpos++];
      if (!(d->rdummy && d->rpos == 1)) ili_say(d, "%02x", v);
      return v;
    }
    return 0;
  }
  if (!d->dc)
    ili_command(d, mosi);
  else
    ili_data(d, mosi);
  return 0xFF; /* SDO is high impedance while writing: pulled up */
}

/* ---- pins ---- */

static void ili_pin_changed(vhw_part_t *p, int pin, int level) {
  ili_t *d = (ili_t *)p;
  uint64_t now = vhw_now(p);
  if (pin == p->dc_pin) d->dc = level != 0;
  if (pin != p->reset_pin) return;
  if (!level && !d->in_reset) {
    d->in_reset = true;
    d->reset_fell = now;
  } else if (level && d->in_reset) {
    d->in_reset = false;
    /* A pulse shorter than the datasheet's 10 us may not reset the chip;
     * the model says it does not. */
    if (now - d->reset_fell < RESET_PULSE_US)
      d->violations++;
    else
      ili_defaults(d, now, "reset");
  }
}

/* ---- control ---- */

static const char *const ili_keys[] = {"on",       "sleeping", "display_on", "inverted",
                                       "madctl",   "colmod",   "pixels",     "commands",
                                       "unknown",  "violations", "width",    "height",
                                       "fault",    NULL};

static int ili_get(vhw_part_t *p, const char *key, double *v) {
  ili_t *d = (ili_t *)p;
  if (strcmp(key, "on") == 0) *v = d->disp_on && !d->sleeping && !d->in_reset && !p->fault;
  else if (strcmp(key, "sleeping") == 0) *v = d->sleeping;
  else if (strcmp(key, "display_on") == 0) *v = d->disp_on;
  else if (strcmp(key, "inverted") == 0) *v = d->inverted;
  else if (strcmp(key, "madctl") == 0) *v = d->madctl;
  else if (strcmp(key, "colmod") == 0) *v = d->colmod;
  else if (strcmp(key, "pixels") == 0) *v = d->pixels;
  else if (strcmp(key, "commands") == 0) *v = d->commands;
  else if (strcmp(key, "unknown") == 0) *v = d->unknown;
  else if (strcmp(key, "violations") == 0) *v = d->violations;
  else if (strcmp(key, "width") == 0) *v = W;
  else if (strcmp(key, "height") == 0) *v = H;
  else if (strcmp(key, "fault") == 0) *v = p->fault;
  else return VHW_EKEY;
  return VHW_OK;
}

static int ili_set(vhw_part_t *p, const char *key, double v) {
  ili_t *d = (ili_t *)p;
  if (strcmp(key, "fault") != 0) return VHW_EKEY; /* the rest is the chip's to say */
  if (v != VHW_FAULT_NONE && v != VHW_FAULT_DISCONNECT && v != VHW_FAULT_UNPOWERED)
    return VHW_ERANGE; /* "stuck" means nothing for a display */
  vhw_fault_t was = p->fault;
  p->fault = (vhw_fault_t)v;
  if (was == VHW_FAULT_UNPOWERED && p->fault != VHW_FAULT_UNPOWERED) ili_power_on(d);
  d->dirty = true;
  return VHW_OK;
}

static const vhw_screen_t *ili_screen(vhw_part_t *p) {
  ili_t *d = (ili_t *)p;
  vhw_screen_t *s = &d->screen;
  bool on = d->disp_on && !d->sleeping && !d->in_reset && p->fault != VHW_FAULT_UNPOWERED;
  if (d->dirty || on != s->on) {
    d->dirty = false;
    s->generation++;
    s->on = on;
  }
  /* Scrolling shows the scroll area's memory rows from VSP on, wrapping
   * (a VSP outside the area: no scroll). */
  bool scroll = d->scrolling && d->vsa > 0 && d->vsp >= d->tfa && d->vsp < d->tfa + d->vsa &&
                d->vsp != d->tfa;
  if (!d->inverted && !scroll) {
    s->pixels = d->mem;
    return s;
  }
  if (d->glass_gen != s->generation || s->pixels != d->glass) {
    uint16_t flip = d->inverted ? 0xFFFF : 0;
    for (int y = 0; y < H; y++) {
      int src = y;
      if (scroll && y >= d->tfa && y < d->tfa + d->vsa)
        src = d->tfa + (y - d->tfa + d->vsp - d->tfa) % d->vsa;
      const uint16_t *from = d->mem + src * W;
      uint16_t *to = d->glass + y * W;
      for (int x = 0; x < W; x++) to[x] = from[x] ^ flip;
    }
    d->glass_gen = s->generation;
  }
  s->pixels = d->glass;
  return s;
}

static size_t ili_describe(const vhw_part_t *p, const uint8_t *tx, const uint8_t *rx, size_t n,
                           size_t len, char *out, size_t outlen) {
  const ili_t *d = (const ili_t *)p;
  (void)rx;
  if (!outlen) return 0;
  size_t cmp = n < 8 ? n : 8;
  unsigned kept = d->ring_n < RING ? d->ring_n : RING;
  for (unsigned k = 1; k <= kept; k++) {
    const ili_desc_t *e = &d->ring[(d->ring_n - k) % RING];
    if (e->len != len || e->n < cmp || memcmp(e->tx, tx, cmp) != 0) continue;
    snprintf(out, outlen, "%s", e->text);
    return strlen(out);
  }
  return 0;
}

static void ili_destroy(vhw_part_t *p) { free(p); }

static const vhw_ops_t ili_ops = {
    .type = "ili9341",
    .spi_select = ili_select,
    .spi_exchange = ili_exchange,
    .set = ili_set,
    .get = ili_get,
    .pin_changed = ili_pin_changed,
    .destroy = ili_destroy,
    .keys = ili_keys,
    .quantities = NULL,
    .spi_describe = ili_describe,
    .screen = ili_screen,
};

vhw_part_t *vhw_ili9341_new(const vhw_env_t *env) {
  ili_t *d = (ili_t *)vhw_part_alloc(sizeof(ili_t), &ili_ops, env);
  if (!d) return NULL;
  d->base.spi_modes = 1u << 0 | 1u << 3; /* samples on the rising edge: modes 0 and 3 */
  d->base.spi_max_hz = 10000000; /* write cycle >= 100 ns (datasheet tscycw) */
  d->screen.width = W;
  d->screen.height = H;
  d->screen.pixels = d->mem;
  d->dc = false; /* no D/C pin: every byte is a command */
  ili_first_power_on(d);
  return &d->base;
}
