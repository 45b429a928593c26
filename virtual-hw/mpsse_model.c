#include "mpsse_model.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const mpsse_chip_info_t chips[] = {
    [MPSSE_FT232H] = {"ft232h", "FT232H", 0x0403, 0x6014, 1, 8, 60000000, true},
    [MPSSE_FT2232H] = {"ft2232h", "FT2232H", 0x0403, 0x6010, 2, 8, 60000000, true},
    [MPSSE_FT4232H] = {"ft4232h", "FT4232H", 0x0403, 0x6011, 2, 0, 60000000, true},
    [MPSSE_FT2232D] = {"ft2232d", "FT2232D", 0x0403, 0x6010, 1, 4, 12000000, false},
};

const mpsse_chip_info_t *mpsse_chip_info(mpsse_chip_t chip) {
  return (unsigned)chip < sizeof chips / sizeof chips[0] ? &chips[chip] : NULL;
}

int mpsse_chip_find(const char *name) {
  for (size_t i = 0; i < sizeof chips / sizeof chips[0]; i++)
    if (strcasecmp(chips[i].name, name) == 0) return (int)i;
  return -1;
}

#define MPSSE_MAX_SLAVES 8
/* The longest command: a 65536-byte data shift with its 3 header bytes. */
#define MPSSE_MAX_CMD (65536 + 3)

typedef struct {
  vhw_part_t *part;
  int cs;
  bool selected;
} slave_t;

typedef struct {
  uint8_t *p;
  size_t len, cap;
} buf_t;

struct mpsse {
  mpsse_chip_t chip;
  const mpsse_chip_info_t *info;
  mpsse_wiring_t w;
  bool enabled;
  uint16_t value, dir;
  uint16_t drive_zero; /* 0x9E: these pins only pull low */
  int16_t driven[MPSSE_PINS]; /* what we last told the wiring, -2 unknown */
  uint16_t divisor;
  bool div5, three_phase, loopback, adaptive;
  bool stalled;
  int stall_pin, stall_level;
  /* bit-mode shifts collect into a byte before the part sees it */
  uint8_t bit_acc;
  int bit_n;
  slave_t slaves[MPSSE_MAX_SLAVES];
  int nslaves;
  buf_t in, out;
  size_t flushed; /* bytes of `out` the host gets without waiting */
  mpsse_stats_t st;
};

static bool buf_put(buf_t *b, const uint8_t *d, size_t n) {
  if (n == 0) return true;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (!np) return false;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
  return true;
}

static void buf_drop(buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

static void answer(mpsse_t *m, uint8_t byte) {
  if (buf_put(&m->out, &byte, 1)) m->st.bytes_out++;
  /* The chip sends a full USB packet (512 bytes less 2 status bytes)
   * without waiting for the latency timer. */
  if (m->out.len - m->flushed >= 510) m->flushed = m->out.len;
}

/* ---- pins ---- */

static int pin_count(const mpsse_t *m) { return 8 + m->info->high_pins; }

static int outside(const mpsse_t *m, int pin) {
  return m->w.pin_level ? m->w.pin_level(m->w.ctx, pin) : -1;
}

/* Level on the wire: what we drive, else what drives it, else pull-up. */
static int level(const mpsse_t *m, int pin) {
  uint16_t bit = (uint16_t)(1u << pin);
  if (m->enabled && (m->dir & bit) && !((m->drive_zero & bit) && (m->value & bit)))
    return (m->value & bit) != 0;
  int o = outside(m, pin);
  return o < 0 ? 1 : o;
}

static void update_selects(mpsse_t *m) {
  for (int i = 0; i < m->nslaves; i++) {
    slave_t *s = &m->slaves[i];
    bool sel = level(m, s->cs) == 0;
    if (sel != s->selected) {
      s->selected = sel;
      if (s->part->ops->spi_select) s->part->ops->spi_select(s->part, sel);
    }
  }
}

static void update_pins(mpsse_t *m) {
  for (int pin = 0; pin < pin_count(m); pin++) {
    uint16_t bit = (uint16_t)(1u << pin);
    int d = -1;
    if (m->enabled && (m->dir & bit)) {
      d = (m->value & bit) != 0;
      if ((m->drive_zero & bit) && d) d = -1;
    }
    if (d != m->driven[pin]) {
      m->driven[pin] = (int16_t)d;
      if (m->w.pin_drive) m->w.pin_drive(m->w.ctx, pin, d);
    }
  }
  update_selects(m);
}

/* ---- SPI ---- */

static uint8_t bitrev(uint8_t b) {
  b = (uint8_t)((b & 0xF0) >> 4 | (b & 0x0F) << 4);
  b = (uint8_t)((b & 0xCC) >> 2 | (b & 0x33) << 2);
  return (uint8_t)((b & 0xAA) >> 1 | (b & 0x55) << 1);
}

double mpsse_clock_hz(const mpsse_t *m) {
  double base = m->info->h_series && !m->div5 ? m->info->base_hz : m->info->base_hz / 5.0;
  if (!m->info->h_series) base = m->info->base_hz;
  double f = base / ((1.0 + m->divisor) * 2.0);
  return m->three_phase ? f * 2.0 / 3.0 : f;
}

/* One byte on the bus, MSB first on the wire: the selected part sees
 * `mosi`, and what it drives on MISO comes back. A part clocked in a mode
 * it does not take, or too fast, samples one edge off: shifted bits, as in
 * sim/board.c. The SPI mode follows from the clock's idle level and the
 * edge the command samples on: CPOL = idle, CPHA = idle xor read-on-falling. */
static uint8_t bus_byte(mpsse_t *m, uint8_t mosi, uint8_t op, bool write) {
  bool sk_out = m->dir & 1, do_out = m->dir & 2;
  if (!write || !do_out) mosi = write && !do_out ? 0xFF : (m->value & 2 ? 0xFF : 0x00);
  if (m->loopback) return mosi;
  slave_t *s = NULL;
  for (int i = 0; i < m->nslaves && !s; i++)
    if (m->slaves[i].selected) s = &m->slaves[i];
  if (!sk_out || !s) { /* no clock, or nobody drives DI: its level */
    int di = outside(m, 2);
    return di == 0 ? 0x00 : 0xFF;
  }
  m->st.bytes_clocked++;
  int idle = m->value & 1;
  bool wneg = op & 0x01, rneg = op & 0x04;
  if (!(op & 0x20)) rneg = !wneg; /* write only: the part samples opposite the write edge */
  int mode = idle << 1 | (idle ^ (int)rneg);
  bool edges_ok = (op & 0x30) != 0x30 || wneg != rneg || m->three_phase;
  vhw_part_t *p = s->part;
  bool garbled = !edges_ok || !(p->spi_modes & (1u << mode)) ||
                 (p->spi_max_hz && mpsse_clock_hz(m) > p->spi_max_hz);
  if (garbled) {
    m->st.garbled++;
    return (uint8_t)(p->ops->spi_exchange(p, (uint8_t)(mosi << 1 | 1)) >> 1 | 0x80);
  }
  return p->ops->spi_exchange(p, mosi);
}

/* Data shift opcodes 0x10-0x3F: bit 0 write on falling edge, 1 bit mode,
 * 2 read on falling edge, 3 LSB first, 4 write DO, 5 read DI. */
static void shift_bytes(mpsse_t *m, uint8_t op, const uint8_t *data, size_t n) {
  bool lsb = op & 0x08, wr = op & 0x10, rd = op & 0x20;
  for (size_t i = 0; i < n; i++) {
    uint8_t out = wr ? data[i] : 0;
    if (lsb) out = bitrev(out);
    uint8_t in = bus_byte(m, out, op, wr);
    if (lsb) in = bitrev(in);
    if (rd) answer(m, in);
  }
}

/* Bit mode: bits gather into one byte for the part (the wire is MSB
 * first); the MISO bits of a byte are known when its eighth bit is
 * clocked, so bits of a byte still open read as the idle line, 1. */
static void shift_bits(mpsse_t *m, uint8_t op, int nbits, uint8_t data) {
  bool lsb = op & 0x08, wr = op & 0x10, rd = op & 0x20;
  int rb[8], pos[8];
  bool open[8];
  for (int i = 0; i < nbits; i++) {
    int b = !wr ? 1 : lsb ? (data >> i) & 1 : (data >> (7 - i)) & 1;
    pos[i] = m->bit_n;
    open[i] = true;
    rb[i] = 1;
    m->bit_acc = (uint8_t)(m->bit_acc << 1 | b);
    if (++m->bit_n == 8) {
      uint8_t miso = bus_byte(m, m->bit_acc, (uint8_t)(op & ~0x08), true);
      for (int j = 0; j <= i; j++)
        if (open[j]) {
          rb[j] = (miso >> (7 - pos[j])) & 1;
          open[j] = false;
        }
      m->bit_acc = 0;
      m->bit_n = 0;
    }
  }
  if (!rd) return;
  uint8_t got = 0;
  for (int i = 0; i < nbits; i++)
    got = (uint8_t)(lsb ? (got >> 1) | (rb[i] << 7) : (got << 1) | rb[i]);
  answer(m, got);
}

/* ---- the command interpreter ---- */

static void bad(mpsse_t *m, uint8_t op) {
  m->st.bad_opcodes++;
  answer(m, 0xFA);
  answer(m, op);
}

/* Length of the complete command at d[0..n), 0 if more bytes are needed. */
static size_t cmd_len(const mpsse_t *m, const uint8_t *d, size_t n) {
  uint8_t op = d[0];
  if (op >= 0x10 && op <= 0x3F) {
    if (op & 0x02) return n >= 2 ? (op & 0x10 ? 3u : 2u) : 0;
    if (n < 3) return 0;
    size_t len = (size_t)(d[1] | d[2] << 8) + 1;
    size_t need = 3 + (op & 0x10 ? len : 0);
    return n >= need ? need : 0;
  }
  bool h = m->info->h_series;
  switch (op) {
    case 0x4A: case 0x4B: case 0x6A: case 0x6B: case 0x6E: case 0x6F: return n >= 3 ? 3 : 0;
    case 0x80: case 0x82: case 0x86: return n >= 3 ? 3 : 0;
    case 0x8E: return !h ? 1 : n >= 2 ? 2 : 0;
    case 0x8F: case 0x9C: case 0x9D: return !h ? 1 : n >= 3 ? 3 : 0;
    case 0x9E: return m->chip != MPSSE_FT232H ? 1 : n >= 3 ? 3 : 0;
    default: return 1;
  }
}

static void stall(mpsse_t *m, int pin, int lv) {
  if (level(m, pin) == lv) return; /* already there: no wait */
  m->stalled = true;
  m->stall_pin = pin;
  m->stall_level = lv;
}

static void execute(mpsse_t *m, const uint8_t *d) {
  uint8_t op = d[0];
  bool h = m->info->h_series;
  m->st.commands++;
  if (op >= 0x10 && op <= 0x3F) {
    if (op & 0x40) return bad(m, op);
    if (op & 0x02)
      shift_bits(m, op, (d[1] & 7) + 1, op & 0x10 ? d[2] : 0);
    else
      shift_bytes(m, op, d + 3, (size_t)(d[1] | d[2] << 8) + 1);
    return;
  }
  switch (op) {
    case 0x4A: case 0x4B: return; /* TMS: JTAG state moves, no SPI meaning */
    case 0x6A: case 0x6B: case 0x6E: case 0x6F: answer(m, 0xFF); return;
    case 0x80:
      m->value = (uint16_t)((m->value & 0xFF00) | d[1]);
      m->dir = (uint16_t)((m->dir & 0xFF00) | d[2]);
      update_pins(m);
      return;
    case 0x82: {
      uint16_t mask = (uint16_t)(((1u << m->info->high_pins) - 1) << 8);
      m->value = (uint16_t)((m->value & 0x00FF) | ((d[1] << 8) & mask));
      m->dir = (uint16_t)((m->dir & 0x00FF) | ((d[2] << 8) & mask));
      update_pins(m);
      return;
    }
    case 0x81: case 0x83: {
      uint8_t v = 0;
      int base = op == 0x81 ? 0 : 8;
      for (int i = 0; i < 8; i++)
        if (base + i < pin_count(m) ? level(m, base + i) : 1) v |= (uint8_t)(1u << i);
      answer(m, v);
      return;
    }
    case 0x84: m->loopback = true; return;
    case 0x85: m->loopback = false; return;
    case 0x86: m->divisor = (uint16_t)(d[1] | d[2] << 8); return;
    case 0x87:
      m->st.flushes++;
      m->flushed = m->out.len;
      return;
    case 0x88: stall(m, 5, 1); return; /* wait until GPIOL1 (ADBUS5) is high */
    case 0x89: stall(m, 5, 0); return;
    default: break;
  }
  if (!h) return bad(m, op); /* the rest are H-series commands */
  switch (op) {
    case 0x8A: m->div5 = false; return;
    case 0x8B: m->div5 = true; return;
    case 0x8C: m->three_phase = true; return;
    case 0x8D: m->three_phase = false; return;
    case 0x8E: shift_bits(m, 0x00, (d[1] & 7) + 1, 0); return;
    case 0x8F: {
      size_t n = (size_t)(d[1] | d[2] << 8) + 1;
      for (size_t i = 0; i < n; i++) bus_byte(m, 0, 0x00, false);
      return;
    }
    case 0x94: stall(m, 5, 1); return;
    case 0x95: stall(m, 5, 0); return;
    case 0x96: m->adaptive = true; return;
    case 0x97: m->adaptive = false; return;
    case 0x9C: stall(m, 5, 1); return;
    case 0x9D: stall(m, 5, 0); return;
    case 0x9E:
      if (m->chip != MPSSE_FT232H) return bad(m, op);
      m->drive_zero = (uint16_t)(d[1] | d[2] << 8);
      update_pins(m);
      return;
    default: return bad(m, op);
  }
}

static void run(mpsse_t *m) {
  size_t pos = 0;
  while (pos < m->in.len && !m->stalled) {
    size_t n = cmd_len(m, m->in.p + pos, m->in.len - pos);
    if (n == 0) break;
    execute(m, m->in.p + pos);
    pos += n;
  }
  buf_drop(&m->in, pos);
}

void mpsse_write(mpsse_t *m, const uint8_t *data, size_t n) {
  m->st.bytes_in += n;
  if (!m->enabled) return; /* UART mode: nobody listens to the bytes */
  if (m->in.len + n > 2 * (size_t)MPSSE_MAX_CMD && m->stalled) return; /* the chip NAKs */
  if (!buf_put(&m->in, data, n)) return;
  run(m);
}

size_t mpsse_read(mpsse_t *m, uint8_t *out, size_t max) {
  if (m->stalled && m->w.pin_level && level(m, m->stall_pin) == m->stall_level) {
    m->stalled = false; /* the awaited level came: go on */
    run(m);
  }
  if (m->flushed < m->out.len && max > m->flushed) m->st.latency_waits++;
  /* After the latency timer everything goes out anyway. */
  size_t n = max < m->out.len ? max : m->out.len;
  if (n == 0) return 0;
  memcpy(out, m->out.p, n);
  buf_drop(&m->out, n);
  m->flushed = m->flushed > n ? m->flushed - n : 0;
  return n;
}

size_t mpsse_available(const mpsse_t *m) { return m->out.len; }

static void reset_state(mpsse_t *m) {
  m->value = m->dir = m->drive_zero = 0;
  m->divisor = 0;
  m->div5 = true; /* H series power up at 60 MHz / 5 */
  m->three_phase = m->loopback = m->adaptive = m->stalled = false;
  m->bit_acc = 0;
  m->bit_n = 0;
  m->in.len = m->out.len = m->flushed = 0;
}

mpsse_t *mpsse_new(mpsse_chip_t chip, const mpsse_wiring_t *w) {
  const mpsse_chip_info_t *info = mpsse_chip_info(chip);
  if (!info) return NULL;
  mpsse_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->chip = chip;
  m->info = info;
  if (w) m->w = *w;
  for (int i = 0; i < MPSSE_PINS; i++) m->driven[i] = -1;
  reset_state(m);
  return m;
}

void mpsse_free(mpsse_t *m) {
  if (!m) return;
  free(m->in.p);
  free(m->out.p);
  free(m);
}

int mpsse_attach(mpsse_t *m, vhw_part_t *part, int cs_pin) {
  if (m->nslaves >= MPSSE_MAX_SLAVES || cs_pin < 0 || cs_pin >= pin_count(m)) return -1;
  m->slaves[m->nslaves++] = (slave_t){part, cs_pin, false};
  update_selects(m);
  return 0;
}

void mpsse_enable(mpsse_t *m, bool on) {
  m->enabled = on;
  if (!on) {
    uint16_t keep5 = m->div5;
    reset_state(m);
    m->div5 = keep5;
  }
  update_pins(m);
}

void mpsse_purge(mpsse_t *m) {
  m->in.len = m->out.len = m->flushed = 0;
  m->stalled = false;
}

void mpsse_power_cycle(mpsse_t *m) {
  m->enabled = false;
  reset_state(m);
  update_pins(m);
}

const mpsse_stats_t *mpsse_stats(const mpsse_t *m) { return &m->st; }
void mpsse_stats_clear(mpsse_t *m) { memset(&m->st, 0, sizeof m->st); }

void mpsse_pins(const mpsse_t *m, uint16_t *value, uint16_t *dir) {
  *value = m->value;
  *dir = m->dir;
}

bool mpsse_enabled(const mpsse_t *m) { return m->enabled; }
bool mpsse_stalled(const mpsse_t *m) { return m->stalled; }
