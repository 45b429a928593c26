/* BME280 model. The chip's ADC values are found by inverting the
 * datasheet's integer compensation (section 4.2.3) with a binary search,
 * so a driver that implements the datasheet recovers the physical values
 * set on the part. The formulas are written out here again on purpose: a
 * model that borrowed the driver's code would hide the driver's bugs.
 *
 * Time is lazy: the state catches up with vhw_now() when chip select
 * goes active and before set/get, which is when anyone can observe it. */
#include "bme280_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  VHW_BME280_ID = 0x60,
  VHW_BME280_REG_CALIB1 = 0x88, /* ..0xA1 */
  VHW_BME280_REG_ID = 0xD0,
  VHW_BME280_REG_RESET = 0xE0,
  VHW_BME280_REG_CALIB2 = 0xE1, /* ..0xF0 */
  VHW_BME280_REG_CTRL_HUM = 0xF2,
  VHW_BME280_REG_STATUS = 0xF3,
  VHW_BME280_REG_CTRL_MEAS = 0xF4,
  VHW_BME280_REG_CONFIG = 0xF5,
  VHW_BME280_REG_DATA = 0xF7, /* ..0xFE */
  VHW_BME280_RESET_CMD = 0xB6,
  VHW_BME280_STARTUP_US = 2000, /* datasheet t_startup: NVM copy */
  VHW_BME280_FILTER_MAX_STEPS = 4096
};

enum { VHW_BME280_SLEEP = 0, VHW_BME280_FORCED = 1, VHW_BME280_NORMAL = 3 };

/* SPI protocol state within one chip-select period. */
typedef enum {
  VHW_BME280_SPI_IDLE,
  VHW_BME280_SPI_CONTROL, /* next byte: RW bit + address */
  VHW_BME280_SPI_READ,    /* auto-increment read */
  VHW_BME280_SPI_WDATA,   /* next byte: data for addr */
  VHW_BME280_SPI_WADDR    /* next byte: another write address */
} vhw_bme280_spi_t;

typedef struct {
  uint16_t t1;
  int16_t t2, t3;
  uint16_t p1;
  int16_t p2, p3, p4, p5, p6, p7, p8, p9;
  uint8_t h1, h3;
  int16_t h2, h4, h5;
  int8_t h6;
} vhw_bme280_trim_t;

/* Trimming values of a typical part (the datasheet's example values for
 * T and P). They give t_fine 128422 / 25.08 degC for adc_T 519888. */
static const vhw_bme280_trim_t vhw_bme280_trim = {
    .t1 = 27504, .t2 = 26435, .t3 = -1000,
    .p1 = 36477, .p2 = -10685, .p3 = 3024, .p4 = 2855, .p5 = 140, .p6 = -7,
    .p7 = 15500, .p8 = -14600, .p9 = 6000,
    .h1 = 75, .h2 = 370, .h3 = 0, .h4 = 313, .h5 = 50, .h6 = 30};

typedef struct {
  vhw_part_t base;
  /* Physical values and the ideal (full resolution) ADC readings for
   * them, recomputed on set. */
  double temperature, pressure, humidity;
  /* Test overrides of the ADC values a conversion latches, -1: none. */
  int32_t raw_t, raw_p, raw_h;
  int32_t ideal_t, ideal_p, ideal_h;
  /* Registers. osrs_h is the humidity setting in effect: ctrl_hum only
   * applies after the next ctrl_meas write. */
  uint8_t ctrl_hum, osrs_h, ctrl_meas, config;
  uint8_t data[8]; /* 0xF7..0xFE */
  uint8_t nvm[256];
  /* Conversions. Forced: one ends at conv_end. Normal: conversion k runs
   * from conv_start + k * period for t_meas. */
  int mode;
  uint64_t conv_start, conv_end, cycles_done;
  uint64_t nvm_until; /* im_update set until then */
  /* IIR filter memory for temperature and pressure (not humidity, as on
   * the chip). */
  bool filt_valid;
  double filt_t, filt_p;
  /* SPI */
  vhw_bme280_spi_t spi;
  uint8_t addr;
} vhw_bme280_t;

/* ---- the datasheet formulas, 64-bit so no intermediate overflows ---- */

static int64_t vhw_bme280_t_fine(const vhw_bme280_trim_t *c, int32_t adc) {
  int64_t x = (int64_t)(adc >> 3) - 2 * (int64_t)c->t1;
  int64_t y = (int64_t)(adc >> 4) - (int64_t)c->t1;
  return ((x * c->t2) >> 11) + ((((y * y) >> 12) * c->t3) >> 14);
}

/* Pressure in Pa * 256 */
static int64_t vhw_bme280_p_q8(const vhw_bme280_trim_t *c, int32_t adc, int64_t t_fine) {
  int64_t a = t_fine - 128000;
  int64_t b = a * a * c->p6 + a * c->p5 * 131072 + (int64_t)c->p4 * 34359738368LL;
  a = ((a * a * c->p3) >> 8) + a * c->p2 * 4096;
  a = ((140737488355328LL + a) * c->p1) >> 33;
  if (a == 0) return 0;
  int64_t p = 1048576 - (int64_t)adc;
  p = ((p * 2147483648LL - b) * 3125) / a;
  int64_t k9 = ((int64_t)c->p9 * (p >> 13) * (p >> 13)) >> 25;
  int64_t k8 = ((int64_t)c->p8 * p) >> 19;
  return ((p + k9 + k8) >> 8) + (int64_t)c->p7 * 16;
}

/* Humidity in %RH * 1024 */
static int64_t vhw_bme280_h_q10(const vhw_bme280_trim_t *c, int32_t adc, int64_t t_fine) {
  int64_t v = t_fine - 76800;
  int64_t lhs = ((int64_t)adc * 16384 - (int64_t)c->h4 * 1048576 - c->h5 * v + 16384) >> 15;
  int64_t rhs = ((((v * c->h6) >> 10) * (((v * c->h3) >> 11) + 32768)) >> 10) + 2097152;
  v = lhs * ((rhs * c->h2 + 8192) >> 14);
  v -= ((((v >> 15) * (v >> 15)) >> 7) * c->h1) >> 4;
  v = v < 0 ? 0 : v > 419430400 ? 419430400 : v;
  return v >> 12;
}

typedef enum { VHW_BME280_CH_T, VHW_BME280_CH_P, VHW_BME280_CH_H } vhw_bme280_ch_t;

static int64_t vhw_bme280_eval(vhw_bme280_ch_t ch, int32_t adc, int64_t t_fine) {
  switch (ch) {
  case VHW_BME280_CH_T: return vhw_bme280_t_fine(&vhw_bme280_trim, adc);
  /* Pressure falls as the ADC value rises; negate so every channel is
   * non-decreasing for the search. */
  case VHW_BME280_CH_P: return -vhw_bme280_p_q8(&vhw_bme280_trim, adc, t_fine);
  default: return vhw_bme280_h_q10(&vhw_bme280_trim, adc, t_fine);
  }
}

/* The ADC value in 0..max whose compensated output is nearest `target`. */
static int32_t vhw_bme280_invert(vhw_bme280_ch_t ch, int32_t max, int64_t target, int64_t t_fine) {
  int32_t lo = 0, hi = max;
  while (lo < hi) { /* first adc with eval >= target */
    int32_t mid = lo + (hi - lo) / 2;
    if (vhw_bme280_eval(ch, mid, t_fine) < target)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo > 0) {
    int64_t above = vhw_bme280_eval(ch, lo, t_fine) - target;
    int64_t below = target - vhw_bme280_eval(ch, lo - 1, t_fine);
    if (below < above) lo--;
  }
  return lo;
}

static void vhw_bme280_update_ideal(vhw_bme280_t *m) {
  double tf = m->temperature * 5120.0; /* t_fine is degC * 5120 */
  m->ideal_t = vhw_bme280_invert(VHW_BME280_CH_T, 0xFFFFF, (int64_t)(tf + (tf < 0 ? -0.5 : 0.5)), 0);
  /* Pressure and humidity depend on the true temperature, not on how
   * finely the temperature is reported. */
  int64_t t_fine = vhw_bme280_t_fine(&vhw_bme280_trim, m->ideal_t);
  m->ideal_p = vhw_bme280_invert(VHW_BME280_CH_P, 0xFFFFF,
                                 -(int64_t)(m->pressure * 256.0 + 0.5), t_fine);
  m->ideal_h = vhw_bme280_invert(VHW_BME280_CH_H, 0xFFFF,
                                 (int64_t)(m->humidity * 1024.0 + 0.5), t_fine);
}

/* ---- measurement ---- */

static unsigned vhw_bme280_osr(unsigned code) {
  static const unsigned n[8] = {0, 1, 2, 4, 8, 16, 16, 16};
  return n[code & 7];
}

static unsigned vhw_bme280_osrs_t(const vhw_bme280_t *m) { return m->ctrl_meas >> 5; }
static unsigned vhw_bme280_osrs_p(const vhw_bme280_t *m) { return (m->ctrl_meas >> 2) & 7; }

/* Typical measurement time (datasheet 9.1): 1 + 2*T + (2*P + 0.5) +
 * (2*H + 0.5) ms, skipped measurements adding nothing. */
static uint64_t vhw_bme280_t_meas_us(const vhw_bme280_t *m) {
  unsigned t = vhw_bme280_osr(vhw_bme280_osrs_t(m));
  unsigned p = vhw_bme280_osr(vhw_bme280_osrs_p(m));
  unsigned h = vhw_bme280_osr(m->osrs_h);
  return 1000u + 2000u * t + (p ? 2000u * p + 500u : 0) + (h ? 2000u * h + 500u : 0);
}

static uint64_t vhw_bme280_t_sb_us(const vhw_bme280_t *m) {
  static const uint32_t us[8] = {500, 62500, 125000, 250000, 500000, 1000000, 10000, 20000};
  return us[m->config >> 5];
}

/* A reading at the resolution the oversampling gives without the filter:
 * 16 bits at x1 up to 20 bits at x16 (datasheet 3.4.1), rounded. */
static int32_t vhw_bme280_quantize(int32_t ideal, unsigned osrs) {
  unsigned bits = 15 + (osrs > 5 ? 5 : osrs);
  int32_t step = (int32_t)1 << (20 - bits);
  int32_t q = (ideal + step / 2) / step * step;
  return q > 0xFFFFF ? 0xFFFFF - (step - 1) : q;
}

static void vhw_bme280_put20(uint8_t *d, int32_t v) {
  d[0] = (uint8_t)(v >> 12);
  d[1] = (uint8_t)(v >> 4);
  d[2] = (uint8_t)((v & 0xF) << 4);
}

/* `n` conversions completed with the current physical values; latch the
 * last one. The IIR filter sees every one of them. */
static void vhw_bme280_convert(vhw_bme280_t *m, uint64_t n) {
  unsigned ot = vhw_bme280_osrs_t(m), op = vhw_bme280_osrs_p(m);
  unsigned coef_code = (m->config >> 2) & 7;
  double coef = coef_code == 0 ? 1.0 : (double)(1u << (coef_code > 4 ? 4 : coef_code));
  double st = vhw_bme280_quantize(m->ideal_t, ot), sp = vhw_bme280_quantize(m->ideal_p, op);
  if (coef > 1.0) {
    if (!m->filt_valid) {
      /* Filter memory starts at the first reading rather than at zero. */
      m->filt_t = st;
      m->filt_p = sp;
      m->filt_valid = true;
      n--;
    }
    if (n > VHW_BME280_FILTER_MAX_STEPS) n = VHW_BME280_FILTER_MAX_STEPS;
    for (uint64_t i = 0; i < n; i++) {
      m->filt_t += (st - m->filt_t) / coef;
      m->filt_p += (sp - m->filt_p) / coef;
    }
    st = m->filt_t + 0.5;
    sp = m->filt_p + 0.5;
  }
  vhw_bme280_put20(m->data + 3, ot ? (int32_t)st : 0x80000);
  vhw_bme280_put20(m->data + 0, op ? (int32_t)sp : 0x80000);
  if (m->raw_t >= 0) vhw_bme280_put20(m->data + 3, m->raw_t);
  if (m->raw_p >= 0) vhw_bme280_put20(m->data + 0, m->raw_p);
  int32_t h = m->raw_h >= 0 ? m->raw_h : m->osrs_h ? m->ideal_h : 0x8000;
  m->data[6] = (uint8_t)(h >> 8);
  m->data[7] = (uint8_t)h;
}

static int vhw_bme280_mode(const vhw_bme280_t *m) { return m->ctrl_meas & 3; }

/* Catch up with the clock: finish conversions whose time has come. */
static void vhw_bme280_advance(vhw_bme280_t *m, uint64_t now) {
  /* Stuck: the conversion never finishes; unpowered: nothing runs. */
  if (m->base.fault == VHW_FAULT_STUCK || m->base.fault == VHW_FAULT_UNPOWERED) return;
  if (m->mode == VHW_BME280_FORCED) {
    if (now >= m->conv_end) {
      vhw_bme280_convert(m, 1);
      m->mode = VHW_BME280_SLEEP;
      m->ctrl_meas &= (uint8_t)~3u; /* back to sleep, as the chip reports */
    }
  } else if (m->mode == VHW_BME280_NORMAL) {
    uint64_t t_meas = vhw_bme280_t_meas_us(m), period = t_meas + vhw_bme280_t_sb_us(m);
    if (now < m->conv_start + t_meas) return;
    uint64_t done = (now - m->conv_start - t_meas) / period + 1;
    if (done > m->cycles_done) {
      vhw_bme280_convert(m, done - m->cycles_done);
      m->cycles_done = done;
    }
  }
}

static bool vhw_bme280_measuring(const vhw_bme280_t *m, uint64_t now) {
  if (m->base.fault == VHW_FAULT_STUCK) return true;
  if (m->mode == VHW_BME280_FORCED) return now < m->conv_end;
  if (m->mode == VHW_BME280_NORMAL) {
    uint64_t t_meas = vhw_bme280_t_meas_us(m), period = t_meas + vhw_bme280_t_sb_us(m);
    return (now - m->conv_start) % period < t_meas;
  }
  return false;
}

/* Power-on / soft reset: registers to their defaults, NVM copy running. */
static void vhw_bme280_reset(vhw_bme280_t *m, uint64_t now) {
  m->ctrl_hum = m->osrs_h = m->ctrl_meas = m->config = 0;
  static const uint8_t data_reset[8] = {0x80, 0, 0, 0x80, 0, 0, 0x80, 0};
  memcpy(m->data, data_reset, sizeof m->data);
  m->mode = VHW_BME280_SLEEP;
  m->filt_valid = false;
  m->nvm_until = now + VHW_BME280_STARTUP_US;
}

/* ---- registers ---- */

static uint8_t vhw_bme280_read_reg(vhw_bme280_t *m, uint8_t reg, uint64_t now) {
  switch (reg) {
  case VHW_BME280_REG_CTRL_HUM: return m->ctrl_hum;
  case VHW_BME280_REG_STATUS:
    return (uint8_t)((vhw_bme280_measuring(m, now) ? 0x08 : 0) | (now < m->nvm_until ? 0x01 : 0));
  case VHW_BME280_REG_CTRL_MEAS: return m->ctrl_meas;
  case VHW_BME280_REG_CONFIG: return m->config;
  default:
    if (reg >= VHW_BME280_REG_DATA) /* 0xFF, past the data: reads 0 */
      return reg - VHW_BME280_REG_DATA < (int)sizeof m->data ? m->data[reg - VHW_BME280_REG_DATA] : 0;
    return m->nvm[reg]; /* id, trimming values, 0 elsewhere */
  }
}

static void vhw_bme280_write_reg(vhw_bme280_t *m, uint8_t reg, uint8_t v, uint64_t now) {
  switch (reg) {
  case VHW_BME280_REG_RESET:
    if (v == VHW_BME280_RESET_CMD) vhw_bme280_reset(m, now);
    break;
  case VHW_BME280_REG_CTRL_HUM: m->ctrl_hum = v & 7; break;
  case VHW_BME280_REG_CTRL_MEAS:
    m->ctrl_meas = v;
    m->osrs_h = m->ctrl_hum;
    m->mode = v & 3;
    if (m->mode == 2) m->mode = VHW_BME280_FORCED; /* 01 and 10 both mean forced */
    if (m->mode == VHW_BME280_FORCED) {
      m->conv_end = now + vhw_bme280_t_meas_us(m);
    } else if (m->mode == VHW_BME280_NORMAL) {
      m->conv_start = now;
      m->cycles_done = 0;
    }
    break;
  case VHW_BME280_REG_CONFIG:
    /* "Writes to the config register in normal mode may be ignored": this
     * part ignores them, so drivers must configure in sleep mode. */
    if (vhw_bme280_mode(m) == VHW_BME280_NORMAL) break;
    if (((v ^ m->config) >> 2) & 7) m->filt_valid = false;
    m->config = v & 0xFD; /* bit 1 is reserved */
    break;
  default: break; /* read-only or reserved */
  }
}

/* ---- vhw_ops_t ---- */

static void vhw_bme280_spi_select(vhw_part_t *p, bool active) {
  vhw_bme280_t *m = (vhw_bme280_t *)p;
  if (active) vhw_bme280_advance(m, vhw_now(p));
  m->spi = active ? VHW_BME280_SPI_CONTROL : VHW_BME280_SPI_IDLE;
}

static uint8_t vhw_bme280_spi_exchange(vhw_part_t *p, uint8_t mosi) {
  vhw_bme280_t *m = (vhw_bme280_t *)p;
  if (p->fault == VHW_FAULT_DISCONNECT) return 0xFF; /* nobody drives MISO */
  if (p->fault == VHW_FAULT_UNPOWERED) return 0x00;   /* MISO held low, chip deaf */
  uint8_t out = 0xFF;             /* MISO is high impedance outside data */
  switch (m->spi) {
  case VHW_BME280_SPI_IDLE: break;
  case VHW_BME280_SPI_CONTROL:
    /* Bit 7 is RW (1 = read) and stands in for address bit 7, which is
     * always 1 in the register map. */
    m->addr = mosi | 0x80;
    m->spi = (mosi & 0x80) ? VHW_BME280_SPI_READ : VHW_BME280_SPI_WDATA;
    break;
  case VHW_BME280_SPI_READ:
    out = vhw_bme280_read_reg(m, m->addr, vhw_now(p));
    m->addr = m->addr == 0xFF ? 0x80 : (uint8_t)(m->addr + 1);
    break;
  case VHW_BME280_SPI_WDATA:
    vhw_bme280_write_reg(m, m->addr, mosi, vhw_now(p));
    m->spi = VHW_BME280_SPI_WADDR;
    break;
  case VHW_BME280_SPI_WADDR:
    m->addr = mosi | 0x80;
    m->spi = VHW_BME280_SPI_WDATA;
    break;
  }
  return out;
}

/* The override behind "raw_t", "raw_p" or "raw_h", or NULL. */
static int32_t *vhw_bme280_raw(vhw_bme280_t *m, const char *key) {
  if (strcmp(key, "raw_t") == 0) return &m->raw_t;
  if (strcmp(key, "raw_p") == 0) return &m->raw_p;
  if (strcmp(key, "raw_h") == 0) return &m->raw_h;
  return NULL;
}

static int vhw_bme280_fault(vhw_part_t *p, vhw_fault_t f) {
  vhw_bme280_t *m = (vhw_bme280_t *)p;
  uint64_t now = vhw_now(p);
  vhw_bme280_advance(m, now); /* what finished before the fault stays */
  vhw_fault_t was = p->fault;
  p->fault = f;
  if (was == VHW_FAULT_STUCK && f != VHW_FAULT_STUCK) {
    /* A conversion that hung restarts its clock once the fault clears. */
    m->conv_end = now + vhw_bme280_t_meas_us(m);
    m->conv_start = now;
    m->cycles_done = 0;
  }
  /* Power back: the chip starts from its power-on state, settings lost. */
  if (was == VHW_FAULT_UNPOWERED && f != VHW_FAULT_UNPOWERED) vhw_bme280_reset(m, now);
  return VHW_OK;
}

static int vhw_bme280_set(vhw_part_t *p, const char *key, double v) {
  vhw_bme280_t *m = (vhw_bme280_t *)p;
  /* Conversions that finished before now saw the old values. */
  vhw_bme280_advance(m, vhw_now(p));
  if (strcmp(key, "temperature") == 0) {
    if (!(v >= -40.0 && v <= 85.0)) return VHW_ERANGE;
    m->temperature = v;
  } else if (strcmp(key, "pressure") == 0) {
    if (!(v >= 30000.0 && v <= 110000.0)) return VHW_ERANGE;
    m->pressure = v;
  } else if (strcmp(key, "humidity") == 0) {
    if (!(v >= 0.0 && v <= 100.0)) return VHW_ERANGE;
    m->humidity = v;
  } else if (strcmp(key, "fault") == 0) {
    if (!(v == 0.0 || v == 1.0 || v == 2.0 || v == 3.0)) return VHW_ERANGE;
    return vhw_bme280_fault(p, (vhw_fault_t)(int)v);
  } else if (strncmp(key, "raw_", 4) == 0 && vhw_bme280_raw(m, key)) {
    int32_t max = key[4] == 'h' ? 0xFFFF : 0xFFFFF;
    if (!(v == -1.0 || (v >= 0.0 && v <= max && v == (double)(int32_t)v))) return VHW_ERANGE;
    *vhw_bme280_raw(m, key) = (int32_t)v;
    return VHW_OK;
  } else {
    return VHW_EKEY;
  }
  vhw_bme280_update_ideal(m);
  return VHW_OK;
}

static int vhw_bme280_get(vhw_part_t *p, const char *key, double *v) {
  vhw_bme280_t *m = (vhw_bme280_t *)p;
  vhw_bme280_advance(m, vhw_now(p));
  if (strcmp(key, "temperature") == 0)
    *v = m->temperature;
  else if (strcmp(key, "pressure") == 0)
    *v = m->pressure;
  else if (strcmp(key, "humidity") == 0)
    *v = m->humidity;
  else if (strcmp(key, "fault") == 0)
    *v = p->fault;
  else if (vhw_bme280_raw(m, key))
    *v = *vhw_bme280_raw(m, key);
  else
    return VHW_EKEY;
  return VHW_OK;
}

static void vhw_bme280_destroy(vhw_part_t *p) { free(p); }

static const char *const vhw_bme280_keys[] = {"temperature", "pressure", "humidity", "fault",
                                              "raw_t", "raw_p", "raw_h", NULL};

/* The sliders: the operating range of datasheet table 1. */
static const vhw_quantity_t vhw_bme280_quantities[] = {
    {"temperature", -40.0, 85.0, "degC"},
    {"pressure", 30000.0, 110000.0, "Pa"},
    {"humidity", 0.0, 100.0, "%RH"},
    {NULL, 0, 0, NULL}};

/* Register names of the memory map (datasheet table 18). */
static const char *vhw_bme280_reg_name(unsigned reg, char *buf, size_t n) {
  static const char *const hi[] = {"ctrl_hum",  "status",   "ctrl_meas", "config",
                                   "0xf6",      "press_msb", "press_lsb", "press_xlsb",
                                   "temp_msb",  "temp_lsb", "temp_xlsb", "hum_msb",
                                   "hum_lsb",   "0xff"};
  if (reg >= 0xF2) return hi[reg - 0xF2];
  if (reg == VHW_BME280_REG_ID) return "id";
  if (reg == VHW_BME280_REG_RESET) return "reset";
  if (reg >= 0x88 && reg <= 0xA1) snprintf(buf, n, "calib%02u", reg - 0x88);
  else if (reg >= 0xE1 && reg <= 0xF0) snprintf(buf, n, "calib%02u", reg - 0xE1 + 26);
  else snprintf(buf, n, "0x%02x", reg);
  return buf;
}

/* SPI: a control byte (bit 7: read, bits 6..0: the register with bit 7
 * implied), then the data (reads auto-increment; writes are pairs of
 * control byte and data). */
static size_t vhw_bme280_describe(const vhw_part_t *p, const uint8_t *tx, const uint8_t *rx,
                                  size_t n, size_t len, char *out, size_t outlen) {
  (void)p;
  if (!n || !outlen) return 0;
  char nb[16];
  size_t k = 0;
  if (tx[0] & 0x80) {
    unsigned reg = tx[0] | 0x80u;
    vhw_text_put(out, outlen, &k, "read 0x%02x %s%s =", reg,
                 vhw_bme280_reg_name(reg, nb, sizeof nb), len > 2 ? ".." : "");
    for (size_t i = 1; i < n && i < 17; i++) vhw_text_put(out, outlen, &k, " %02x", rx[i]);
    if (len > 17) vhw_text_put(out, outlen, &k, " ..");
  } else {
    vhw_text_put(out, outlen, &k, "write");
    for (size_t i = 0; i + 1 < n; i += 2) {
      unsigned reg = tx[i] | 0x80u;
      vhw_text_put(out, outlen, &k, " %s=0x%02x", vhw_bme280_reg_name(reg, nb, sizeof nb),
                   tx[i + 1]);
      if (i + 2 < n && tx[i + 2] & 0x80) break; /* a read after writes: not the chip's way */
    }
    if (len < 2) vhw_text_put(out, outlen, &k, " (no data)");
  }
  return vhw_text_len(k, outlen);
}

static const vhw_ops_t vhw_bme280_ops = {
    .type = "bme280",
    .spi_select = vhw_bme280_spi_select,
    .spi_exchange = vhw_bme280_spi_exchange,
    .set = vhw_bme280_set,
    .get = vhw_bme280_get,
    .pin_changed = NULL,
    .destroy = vhw_bme280_destroy,
    .keys = vhw_bme280_keys,
    .quantities = vhw_bme280_quantities,
    .spi_describe = vhw_bme280_describe,
};

static void vhw_bme280_put16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
}

/* The NVM image: id and trimming values at their datasheet addresses. */
static void vhw_bme280_fill_nvm(uint8_t *nvm) {
  const vhw_bme280_trim_t *c = &vhw_bme280_trim;
  uint8_t *b = nvm + VHW_BME280_REG_CALIB1;
  const uint16_t words[12] = {c->t1, (uint16_t)c->t2, (uint16_t)c->t3, c->p1,
                              (uint16_t)c->p2, (uint16_t)c->p3, (uint16_t)c->p4, (uint16_t)c->p5,
                              (uint16_t)c->p6, (uint16_t)c->p7, (uint16_t)c->p8, (uint16_t)c->p9};
  for (int i = 0; i < 12; i++) vhw_bme280_put16(b + 2 * i, words[i]);
  b[25] = c->h1; /* 0xA1; 0xA0 stays 0 */
  b = nvm + VHW_BME280_REG_CALIB2;
  vhw_bme280_put16(b, (uint16_t)c->h2);
  b[2] = c->h3;
  /* 0xE4 = H4[11:4], 0xE5 = H5[3:0] << 4 | H4[3:0], 0xE6 = H5[11:4] */
  b[3] = (uint8_t)(c->h4 >> 4);
  b[4] = (uint8_t)((c->h5 & 0x0F) << 4 | (c->h4 & 0x0F));
  b[5] = (uint8_t)(c->h5 >> 4);
  b[6] = (uint8_t)c->h6;
  nvm[VHW_BME280_REG_ID] = VHW_BME280_ID;
}

vhw_part_t *vhw_bme280_new(const vhw_env_t *env) {
  vhw_bme280_t *m = (vhw_bme280_t *)vhw_part_alloc(sizeof *m, &vhw_bme280_ops, env);
  if (!m) return NULL;
  m->base.spi_modes = 0x9; /* modes 0 and 3 */
  m->base.spi_max_hz = 10000000;
  m->temperature = 25.0;
  m->pressure = 101325.0;
  m->humidity = 40.0;
  m->raw_t = m->raw_p = m->raw_h = -1;
  memset(m->nvm, 0, sizeof m->nvm);
  vhw_bme280_fill_nvm(m->nvm);
  vhw_bme280_update_ideal(m);
  vhw_bme280_reset(m, vhw_now(&m->base));
  m->spi = VHW_BME280_SPI_IDLE;
  return &m->base;
}
