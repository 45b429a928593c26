/* LIS3DH model. Samples are produced lazily: on chip select and on
 * set/get the model counts the ODR ticks since it last looked and
 * applies them (new data, overrun, INT1), since nobody can observe the
 * chip in between. A consequence is that INT1 rises at the next access
 * after a sample is due, not at the tick itself. FIFO, the interrupt
 * generators, click and the auxiliary ADC are not modelled: their
 * registers read and write as plain memory (ADC outputs read 0). */
#include "lis3dh_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  VHW_LIS3DH_WHO_AM_I_VAL = 0x33,
  VHW_LIS3DH_REG_STATUS_AUX = 0x07,
  VHW_LIS3DH_REG_WHO_AM_I = 0x0F,
  VHW_LIS3DH_REG_CTRL0 = 0x1E,
  VHW_LIS3DH_REG_TEMP_CFG = 0x1F,
  VHW_LIS3DH_REG_CTRL1 = 0x20,
  VHW_LIS3DH_REG_CTRL3 = 0x22,
  VHW_LIS3DH_REG_CTRL4 = 0x23,
  VHW_LIS3DH_REG_CTRL5 = 0x24,
  VHW_LIS3DH_REG_CTRL6 = 0x25,
  VHW_LIS3DH_REG_REFERENCE = 0x26,
  VHW_LIS3DH_REG_STATUS = 0x27,
  VHW_LIS3DH_REG_OUT_X_L = 0x28, /* ..0x2D */
  VHW_LIS3DH_REG_FIFO_CTRL = 0x2E,
  VHW_LIS3DH_REG_FIFO_SRC = 0x2F,
  VHW_LIS3DH_REG_LAST = 0x3F
};

typedef enum {
  VHW_LIS3DH_SPI_IDLE,
  VHW_LIS3DH_SPI_CONTROL, /* next byte: RW, MS, address */
  VHW_LIS3DH_SPI_READ,
  VHW_LIS3DH_SPI_WRITE
} vhw_lis3dh_spi_t;

typedef struct {
  vhw_part_t base;
  double accel[3]; /* g */
  uint8_t regs[VHW_LIS3DH_REG_LAST + 1]; /* plain registers */
  int16_t out[3];                        /* left-justified output registers */
  /* BDU: once one half of an axis is read, that axis keeps its value
   * until the other half is read; a sample arriving meanwhile waits. */
  uint8_t bdu_read[3]; /* bit 0: low byte read, bit 1: high byte read */
  bool has_pending[3];
  int16_t pending[3];
  uint8_t da, ovr; /* per-axis new-data and overrun flags, bit 0 = X */
  uint64_t odr_start_us, samples_done;
  int pin_level; /* what INT1 was last driven to, -1 not yet */
  vhw_lis3dh_spi_t spi;
  uint8_t addr;
  bool autoinc;
} vhw_lis3dh_t;

static bool vhw_lis3dh_writable(uint8_t reg) {
  switch (reg) {
  case VHW_LIS3DH_REG_CTRL0:
  case VHW_LIS3DH_REG_TEMP_CFG:
  case VHW_LIS3DH_REG_FIFO_CTRL:
  case 0x30: case 0x32: case 0x33: case 0x34: case 0x36: case 0x37: case 0x38:
  case 0x3A: case 0x3B: case 0x3C: case 0x3D: case 0x3E: case 0x3F:
    return true;
  default:
    return reg >= VHW_LIS3DH_REG_CTRL1 && reg <= VHW_LIS3DH_REG_REFERENCE;
  }
}

static bool vhw_lis3dh_low_power(const vhw_lis3dh_t *m) {
  return (m->regs[VHW_LIS3DH_REG_CTRL1] & 0x08) != 0;
}

/* Sample period in ns for the ODR field, 0 in power-down. */
static uint64_t vhw_lis3dh_period_ns(const vhw_lis3dh_t *m) {
  static const uint32_t hz[10] = {0, 1, 10, 25, 50, 100, 200, 400, 1600, 1344};
  unsigned odr = m->regs[VHW_LIS3DH_REG_CTRL1] >> 4;
  if (odr == 0 || odr > 9) return 0;
  uint32_t f = hz[odr];
  if (odr == 9 && vhw_lis3dh_low_power(m)) f = 5376; /* same code, LP rate */
  return 1000000000ull / f;
}

/* Output resolution in bits and sensitivity in mg/digit (datasheet
 * table 4) for the current mode and full scale. */
static unsigned vhw_lis3dh_bits(const vhw_lis3dh_t *m) {
  if (vhw_lis3dh_low_power(m)) return 8;
  return (m->regs[VHW_LIS3DH_REG_CTRL4] & 0x08) ? 12 : 10;
}

static double vhw_lis3dh_sensitivity_mg(const vhw_lis3dh_t *m) {
  static const double hr[4] = {1, 2, 4, 12}; /* 12-bit; 10-bit x4, 8-bit x16 */
  unsigned fs = (m->regs[VHW_LIS3DH_REG_CTRL4] >> 4) & 3;
  unsigned bits = vhw_lis3dh_bits(m);
  return hr[fs] * (bits == 12 ? 1 : bits == 10 ? 4 : 16);
}

static int16_t vhw_lis3dh_sample(const vhw_lis3dh_t *m, int axis) {
  unsigned fs = (m->regs[VHW_LIS3DH_REG_CTRL4] >> 4) & 3;
  double range = (double)(2u << fs); /* 2, 4, 8, 16 g */
  double g = m->accel[axis];
  g = g > range ? range : g < -range ? -range : g;
  unsigned bits = vhw_lis3dh_bits(m);
  double c = g * 1000.0 / vhw_lis3dh_sensitivity_mg(m);
  long count = (long)(c < 0 ? c - 0.5 : c + 0.5);
  long lim = 1L << (bits - 1);
  count = count >= lim ? lim - 1 : count < -lim ? -lim : count;
  return (int16_t)(count * (1L << (16 - bits))); /* left-justified */
}

static uint8_t vhw_lis3dh_enabled(const vhw_lis3dh_t *m) {
  return m->regs[VHW_LIS3DH_REG_CTRL1] & 7;
}

static uint8_t vhw_lis3dh_status(const vhw_lis3dh_t *m) {
  uint8_t en = vhw_lis3dh_enabled(m);
  uint8_t da = m->da & en, ovr = m->ovr & en;
  return (uint8_t)((ovr ? 0x80 : 0) | ovr << 4 | (da ? 0x08 : 0) | da);
}

/* INT1 follows ZYXDA when I1_ZYXDA is set; INT_POLARITY inverts it. */
static void vhw_lis3dh_update_pin(vhw_lis3dh_t *m) {
  if (m->base.irq_pin < 0 || !m->base.env.drive_pin) return;
  bool active = (m->regs[VHW_LIS3DH_REG_CTRL3] & 0x10) && (vhw_lis3dh_status(m) & 0x08);
  int level = active ^ ((m->regs[VHW_LIS3DH_REG_CTRL6] & 0x02) != 0);
  if (level == m->pin_level) return;
  m->pin_level = level;
  m->base.env.drive_pin(m->base.env.ctx, m->base.irq_pin, level);
}

static void vhw_lis3dh_new_sample(vhw_lis3dh_t *m) {
  uint8_t en = vhw_lis3dh_enabled(m);
  bool bdu = (m->regs[VHW_LIS3DH_REG_CTRL4] & 0x80) != 0;
  for (int a = 0; a < 3; a++) {
    if (!(en & (1u << a))) continue;
    int16_t v = vhw_lis3dh_sample(m, a);
    if (bdu && m->bdu_read[a]) {
      m->pending[a] = v;
      m->has_pending[a] = true;
    } else {
      m->out[a] = v;
    }
    if (m->da & (1u << a)) m->ovr |= (uint8_t)(1u << a);
    m->da |= (uint8_t)(1u << a);
  }
}

/* Catch up with the clock. Physical values are constant between calls,
 * so any number of missed ticks amounts to one sample plus overrun. */
static void vhw_lis3dh_advance(vhw_lis3dh_t *m) {
  /* Stuck: the sample clock stopped; unpowered: nothing runs. */
  if (m->base.fault == VHW_FAULT_STUCK || m->base.fault == VHW_FAULT_UNPOWERED) return;
  uint64_t period = vhw_lis3dh_period_ns(m), now = vhw_now(&m->base);
  if (period && now > m->odr_start_us) {
    uint64_t done = (now - m->odr_start_us) * 1000u / period;
    if (done > m->samples_done) {
      if (done - m->samples_done > 1) vhw_lis3dh_new_sample(m); /* overran */
      vhw_lis3dh_new_sample(m);
      m->samples_done = done;
    }
  }
  vhw_lis3dh_update_pin(m);
}

/* Index of the output register pair for reg, or -1. */
static int vhw_lis3dh_out_axis(uint8_t reg) {
  if (reg < VHW_LIS3DH_REG_OUT_X_L || reg > VHW_LIS3DH_REG_OUT_X_L + 5) return -1;
  return (reg - VHW_LIS3DH_REG_OUT_X_L) / 2;
}

static uint8_t vhw_lis3dh_read_out(vhw_lis3dh_t *m, uint8_t reg) {
  int a = vhw_lis3dh_out_axis(reg);
  bool high = (reg - VHW_LIS3DH_REG_OUT_X_L) & 1;
  bool ble = (m->regs[VHW_LIS3DH_REG_CTRL4] & 0x40) != 0; /* big-endian: MSB at the low address */
  uint16_t v = (uint16_t)m->out[a];
  uint8_t byte = (high != ble) ? (uint8_t)(v >> 8) : (uint8_t)v;
  /* Reading the high part of an axis clears its new-data flags. */
  if (high) {
    m->da &= (uint8_t)~(1u << a);
    m->ovr &= (uint8_t)~(1u << a);
  }
  if (m->regs[VHW_LIS3DH_REG_CTRL4] & 0x80) {
    m->bdu_read[a] |= (uint8_t)(high ? 2 : 1);
    if (m->bdu_read[a] == 3) {
      m->bdu_read[a] = 0;
      if (m->has_pending[a]) m->out[a] = m->pending[a];
      m->has_pending[a] = false;
    }
  }
  return byte;
}

static uint8_t vhw_lis3dh_read_reg(vhw_lis3dh_t *m, uint8_t reg) {
  if (vhw_lis3dh_out_axis(reg) >= 0) return vhw_lis3dh_read_out(m, reg);
  if (reg == VHW_LIS3DH_REG_STATUS) return vhw_lis3dh_status(m);
  return m->regs[reg];
}

static void vhw_lis3dh_write_reg(vhw_lis3dh_t *m, uint8_t reg, uint8_t v) {
  if (!vhw_lis3dh_writable(reg)) return; /* read-only or reserved */
  if (reg == VHW_LIS3DH_REG_CTRL1) {
    uint8_t old = m->regs[reg];
    m->regs[reg] = v;
    /* A new rate (or LP switching 1.344 <-> 5.376 kHz) restarts the
     * sample clock. */
    if ((old ^ v) & 0xF8) {
      m->odr_start_us = vhw_now(&m->base);
      m->samples_done = 0;
    }
    return;
  }
  if (reg == VHW_LIS3DH_REG_CTRL4 && !(v & 0x80)) {
    memset(m->bdu_read, 0, sizeof m->bdu_read);
    for (int a = 0; a < 3; a++) {
      if (m->has_pending[a]) m->out[a] = m->pending[a];
      m->has_pending[a] = false;
    }
  }
  if (reg == VHW_LIS3DH_REG_CTRL5) v &= 0x7F; /* BOOT clears itself once the trimming reloads */
  m->regs[reg] = v;
}

/* ---- vhw_ops_t ---- */

static void vhw_lis3dh_spi_select(vhw_part_t *p, bool active) {
  vhw_lis3dh_t *m = (vhw_lis3dh_t *)p;
  if (active && m->base.fault != VHW_FAULT_DISCONNECT) vhw_lis3dh_advance(m);
  m->spi = active ? VHW_LIS3DH_SPI_CONTROL : VHW_LIS3DH_SPI_IDLE;
}

static uint8_t vhw_lis3dh_spi_exchange(vhw_part_t *p, uint8_t mosi) {
  vhw_lis3dh_t *m = (vhw_lis3dh_t *)p;
  if (p->fault == VHW_FAULT_DISCONNECT) return 0xFF; /* nobody drives SDO */
  if (p->fault == VHW_FAULT_UNPOWERED) return 0x00;   /* SDO held low, chip deaf */
  uint8_t out = 0xFF;
  switch (m->spi) {
  case VHW_LIS3DH_SPI_IDLE: return 0xFF;
  case VHW_LIS3DH_SPI_CONTROL:
    m->addr = mosi & 0x3F;
    m->autoinc = (mosi & 0x40) != 0;
    m->spi = (mosi & 0x80) ? VHW_LIS3DH_SPI_READ : VHW_LIS3DH_SPI_WRITE;
    return 0xFF;
  case VHW_LIS3DH_SPI_READ: out = vhw_lis3dh_read_reg(m, m->addr); break;
  case VHW_LIS3DH_SPI_WRITE: vhw_lis3dh_write_reg(m, m->addr, mosi); break;
  }
  if (m->autoinc) m->addr = (uint8_t)((m->addr + 1) & 0x3F);
  vhw_lis3dh_update_pin(m);
  return out;
}

static int vhw_lis3dh_axis(const char *key) {
  if (strcmp(key, "x") == 0) return 0;
  if (strcmp(key, "y") == 0) return 1;
  if (strcmp(key, "z") == 0) return 2;
  return -1;
}

/* Power-on state: registers at their defaults, power-down, no data. */
static void vhw_lis3dh_power_on(vhw_lis3dh_t *m) {
  memset(m->regs, 0, sizeof m->regs);
  m->regs[VHW_LIS3DH_REG_WHO_AM_I] = VHW_LIS3DH_WHO_AM_I_VAL;
  m->regs[VHW_LIS3DH_REG_CTRL0] = 0x10;    /* SDO pull-up connected */
  m->regs[VHW_LIS3DH_REG_CTRL1] = 0x07;    /* power-down, XYZ enabled */
  m->regs[VHW_LIS3DH_REG_FIFO_SRC] = 0x20; /* FIFO empty */
  memset(m->out, 0, sizeof m->out);
  memset(m->bdu_read, 0, sizeof m->bdu_read);
  memset(m->has_pending, 0, sizeof m->has_pending);
  m->da = m->ovr = 0;
  m->odr_start_us = vhw_now(&m->base);
  m->samples_done = 0;
}

static int vhw_lis3dh_fault(vhw_part_t *p, vhw_fault_t f) {
  vhw_lis3dh_t *m = (vhw_lis3dh_t *)p;
  if (p->fault != VHW_FAULT_DISCONNECT) vhw_lis3dh_advance(m); /* samples before the fault */
  vhw_fault_t was = p->fault;
  p->fault = f;
  if (was == VHW_FAULT_STUCK && f != VHW_FAULT_STUCK) {
    /* The clock restarts from now rather than catching up. */
    m->odr_start_us = vhw_now(p);
    m->samples_done = 0;
  }
  if (was == VHW_FAULT_UNPOWERED && f != VHW_FAULT_UNPOWERED) vhw_lis3dh_power_on(m);
  vhw_lis3dh_update_pin(m);
  return VHW_OK;
}

static int vhw_lis3dh_set(vhw_part_t *p, const char *key, double v) {
  vhw_lis3dh_t *m = (vhw_lis3dh_t *)p;
  /* Earlier samples saw the old values. */
  if (p->fault != VHW_FAULT_DISCONNECT) vhw_lis3dh_advance(m);
  int a = vhw_lis3dh_axis(key);
  if (a >= 0) {
    /* Far beyond any full scale; the outputs clamp at +-FS anyway. */
    if (!(v >= -100.0 && v <= 100.0)) return VHW_ERANGE;
    m->accel[a] = v;
    return VHW_OK;
  }
  if (strcmp(key, "fault") == 0) {
    if (!(v == 0.0 || v == 1.0 || v == 2.0 || v == 3.0)) return VHW_ERANGE;
    return vhw_lis3dh_fault(p, (vhw_fault_t)(int)v);
  }
  return VHW_EKEY;
}

static int vhw_lis3dh_get(vhw_part_t *p, const char *key, double *v) {
  vhw_lis3dh_t *m = (vhw_lis3dh_t *)p;
  if (p->fault != VHW_FAULT_DISCONNECT) vhw_lis3dh_advance(m);
  int a = vhw_lis3dh_axis(key);
  if (a >= 0)
    *v = m->accel[a];
  else if (strcmp(key, "fault") == 0)
    *v = p->fault;
  else
    return VHW_EKEY;
  return VHW_OK;
}

/* Free-running data-ready: catch up, then the next sample's time while
 * INT1 reports data-ready (nothing to announce otherwise). */
static uint64_t vhw_lis3dh_poll(vhw_part_t *p) {
  vhw_lis3dh_t *m = (vhw_lis3dh_t *)p;
  vhw_lis3dh_advance(m);
  uint64_t period = vhw_lis3dh_period_ns(m);
  if (!period || !(m->regs[VHW_LIS3DH_REG_CTRL3] & 0x10) || m->base.irq_pin < 0)
    return UINT64_MAX;
  return m->odr_start_us + ((m->samples_done + 1) * period + 999u) / 1000u;
}

static void vhw_lis3dh_destroy(vhw_part_t *p) { free(p); }

static const char *const vhw_lis3dh_keys[] = {"x", "y", "z", "fault", NULL};

/* The sliders: one per axis, over the largest full scale (+-16 g). */
static const vhw_quantity_t vhw_lis3dh_quantities[] = {
    {"x", -16.0, 16.0, "g"}, {"y", -16.0, 16.0, "g"}, {"z", -16.0, 16.0, "g"}, {NULL, 0, 0, NULL}};

/* Register names (datasheet section 7, register mapping). */
static const char *vhw_lis3dh_reg_name(unsigned reg, char *buf, size_t n) {
  static const char *const low[] = {
      "STATUS_REG_AUX", "OUT_ADC1_L", "OUT_ADC1_H", "OUT_ADC2_L", "OUT_ADC2_H", "OUT_ADC3_L",
      "OUT_ADC3_H",     NULL,         "WHO_AM_I"};
  static const char *const high[] = {
      "CTRL_REG0",   "TEMP_CFG_REG", "CTRL_REG1",    "CTRL_REG2",  "CTRL_REG3",
      "CTRL_REG4",   "CTRL_REG5",    "CTRL_REG6",    "REFERENCE",  "STATUS_REG",
      "OUT_X_L",     "OUT_X_H",      "OUT_Y_L",      "OUT_Y_H",    "OUT_Z_L",
      "OUT_Z_H",     "FIFO_CTRL_REG", "FIFO_SRC_REG", "INT1_CFG",  "INT1_SRC",
      "INT1_THS",    "INT1_DURATION", "INT2_CFG",    "INT2_SRC",   "INT2_THS",
      "INT2_DURATION", "CLICK_CFG",  "CLICK_SRC",    "CLICK_THS",  "TIME_LIMIT",
      "TIME_LATENCY", "TIME_WINDOW", "ACT_THS",      "ACT_DUR"};
  const char *name = NULL;
  if (reg >= 0x07 && reg <= 0x0F) name = low[reg - 0x07];
  else if (reg >= 0x1E && reg <= 0x3F) name = high[reg - 0x1E];
  if (name) return name;
  snprintf(buf, n, "0x%02x", reg);
  return buf;
}

/* SPI: bit 7 read, bit 6 auto-increment (MS), bits 5..0 the register. */
static size_t vhw_lis3dh_describe(const vhw_part_t *p, const uint8_t *tx, const uint8_t *rx,
                                  size_t n, size_t len, char *out, size_t outlen) {
  (void)p;
  if (!n || !outlen) return 0;
  char nb[16];
  size_t k = 0;
  unsigned reg = tx[0] & 0x3Fu;
  bool inc = (tx[0] & 0x40) != 0;
  const char *name = vhw_lis3dh_reg_name(reg, nb, sizeof nb);
  vhw_text_put(out, outlen, &k, "%s 0x%02x %s%s %s", tx[0] & 0x80 ? "read" : "write", reg, name,
               inc && len > 2 ? ".." : "", tx[0] & 0x80 ? "=" : "<-");
  const uint8_t *d = tx[0] & 0x80 ? rx : tx;
  for (size_t i = 1; i < n && i < 17; i++) vhw_text_put(out, outlen, &k, " %02x", d[i]);
  if (len > 17) vhw_text_put(out, outlen, &k, " ..");
  if (len < 2) vhw_text_put(out, outlen, &k, " (no data)");
  return vhw_text_len(k, outlen);
}

static const vhw_ops_t vhw_lis3dh_ops = {
    .type = "lis3dh",
    .spi_select = vhw_lis3dh_spi_select,
    .spi_exchange = vhw_lis3dh_spi_exchange,
    .set = vhw_lis3dh_set,
    .get = vhw_lis3dh_get,
    .pin_changed = NULL,
    .poll = vhw_lis3dh_poll,
    .destroy = vhw_lis3dh_destroy,
    .keys = vhw_lis3dh_keys,
    .quantities = vhw_lis3dh_quantities,
    .spi_describe = vhw_lis3dh_describe,
};

vhw_part_t *vhw_lis3dh_new(const vhw_env_t *env) {
  vhw_lis3dh_t *m = (vhw_lis3dh_t *)vhw_part_alloc(sizeof *m, &vhw_lis3dh_ops, env);
  if (!m) return NULL;
  m->base.spi_modes = 0x9; /* modes 0 and 3 */
  m->base.spi_max_hz = 10000000;
  vhw_lis3dh_power_on(m);
  m->accel[0] = m->accel[1] = 0.0;
  m->accel[2] = 1.0; /* lying flat */
  m->pin_level = -1;
  m->spi = VHW_LIS3DH_SPI_IDLE;
  m->addr = 0;
  m->autoinc = false;
  return &m->base;
}
