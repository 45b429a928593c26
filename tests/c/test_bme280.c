/* BME280: the driver's compensation against the datasheet (worked example
 * and the floating-point formulas), then the chip model driven byte by
 * byte through its SPI ops, read back with the driver's code. No Lua. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bme280.h"
#include "bme280_model.h"
#include "vhw_spi_test.h"

static int test_failures;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      test_failures++;                                                     \
    }                                                                      \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                              \
  do {                                                                                     \
    double a_ = (a), b_ = (b);                                                             \
    if (!(fabs(a_ - b_) <= (tol))) {                                                       \
      fprintf(stderr, "%s:%d: %s = %.6f, want %.6f +- %g\n", __FILE__, __LINE__, #a, a_, b_, \
              (double)(tol));                                                              \
      test_failures++;                                                                     \
    }                                                                                      \
  } while (0)

/* The trimming values of the datasheet example, as the chip stores them. */
static const bme280_calib_t test_calib = {
    .t1 = 27504, .t2 = 26435, .t3 = -1000,
    .p1 = 36477, .p2 = -10685, .p3 = 3024, .p4 = 2855, .p5 = 140, .p6 = -7,
    .p7 = 15500, .p8 = -14600, .p9 = 6000,
    .h1 = 75, .h2 = 370, .h3 = 0, .h4 = 313, .h5 = 50, .h6 = 30};

/* ---- the datasheet's double-precision formulas (section 8.1) ---- */

static double test_t_double(const bme280_calib_t *c, int32_t adc, double *t_fine) {
  double v1 = (adc / 16384.0 - c->t1 / 1024.0) * c->t2;
  double d = adc / 131072.0 - c->t1 / 8192.0;
  double v2 = d * d * c->t3;
  *t_fine = (double)(int32_t)(v1 + v2);
  return (v1 + v2) / 5120.0;
}

static double test_p_double(const bme280_calib_t *c, int32_t adc, double t_fine) {
  double v1 = t_fine / 2.0 - 64000.0;
  double v2 = v1 * v1 * c->p6 / 32768.0;
  v2 += v1 * c->p5 * 2.0;
  v2 = v2 / 4.0 + c->p4 * 65536.0;
  v1 = (c->p3 * v1 * v1 / 524288.0 + c->p2 * v1) / 524288.0;
  v1 = (1.0 + v1 / 32768.0) * c->p1;
  double p = 1048576.0 - adc;
  p = (p - v2 / 4096.0) * 6250.0 / v1;
  v1 = c->p9 * p * p / 2147483648.0;
  v2 = p * c->p8 / 32768.0;
  return p + (v1 + v2 + c->p7) / 16.0;
}

static double test_h_double(const bme280_calib_t *c, int32_t adc, double t_fine) {
  double h = t_fine - 76800.0;
  h = (adc - (c->h4 * 64.0 + c->h5 / 16384.0 * h)) *
      (c->h2 / 65536.0 * (1.0 + c->h6 / 67108864.0 * h * (1.0 + c->h3 / 67108864.0 * h)));
  h = h * (1.0 - c->h1 * h / 524288.0);
  return h < 0 ? 0 : h > 100 ? 100 : h;
}

static void test_datasheet_example(void) {
  /* Datasheet worked example: adc_T 519888 -> t_fine 128422, 25.08 degC;
   * adc_P 415148 -> 100653.27 Pa (float formula). */
  int32_t t_fine;
  CHECK(bme280_compensate_t(&test_calib, 519888, &t_fine) == 2508);
  CHECK(t_fine == 128422);
  CHECK_NEAR(bme280_compensate_p(&test_calib, 415148, t_fine) / 256.0, 100653.27, 1.0);
  double tf;
  CHECK_NEAR(test_t_double(&test_calib, 519888, &tf), 25.08, 0.005);
  CHECK_NEAR(test_p_double(&test_calib, 415148, tf), 100653.27, 0.05);
  CHECK(bme280_compensate_t(&test_calib, 519888, NULL) == 2508); /* t_fine optional */
}

/* Integer against double over the whole useful range. */
static void test_integer_matches_double(void) {
  for (int32_t adc_t = 300000; adc_t <= 720000; adc_t += 7919) {
    int32_t t_fine;
    double tf;
    double ti = bme280_compensate_t(&test_calib, adc_t, &t_fine) / 100.0;
    /* The integer formula truncates adc_T >> 3 and rounds to 0.01 degC. */
    CHECK_NEAR(ti, test_t_double(&test_calib, adc_t, &tf), 0.01);
    for (int32_t adc_p = 250000; adc_p <= 900000; adc_p += 25013) {
      double pd = test_p_double(&test_calib, adc_p, tf);
      if (pd < 30000 || pd > 110000) continue;
      CHECK_NEAR(bme280_compensate_p(&test_calib, adc_p, t_fine) / 256.0, pd, 1.0);
    }
    for (int32_t adc_h = 15000; adc_h <= 45000; adc_h += 997) {
      CHECK_NEAR(bme280_compensate_h(&test_calib, adc_h, t_fine) / 1024.0,
                 test_h_double(&test_calib, adc_h, tf), 0.05);
    }
  }
  /* Humidity clamps at 0 and 100 %RH. */
  int32_t t_fine;
  bme280_compensate_t(&test_calib, 519888, &t_fine);
  CHECK(bme280_compensate_h(&test_calib, 0, t_fine) == 0);
  CHECK(bme280_compensate_h(&test_calib, 65535, t_fine) == 100 * 1024);
}

static void test_parse_calib(void) {
  uint8_t b1[BME280_CALIB1_LEN], b2[BME280_CALIB2_LEN];
  for (int i = 0; i < BME280_CALIB1_LEN; i++) b1[i] = (uint8_t)(0x10 + i);
  b1[0] = 0x70; b1[1] = 0x6B;  /* T1 = 0x6B70 = 27504 */
  b1[2] = 0x43; b1[3] = 0x67;  /* T2 = 26435 */
  b1[4] = 0x18; b1[5] = 0xFC;  /* T3 = -1000 */
  b1[16] = 0xF9; b1[17] = 0xFF; /* P6 = -7 */
  b1[25] = 75;                 /* H1 at 0xA1 */
  b2[0] = 0x72; b2[1] = 0x01;  /* H2 = 370 */
  b2[2] = 0;                   /* H3 */
  b2[3] = 0x13; b2[4] = 0x29; b2[5] = 0x03; /* H4 = 313, H5 = 50 */
  b2[6] = 0xE2;                /* H6 = -30 */
  bme280_calib_t c;
  bme280_parse_calib(&c, b1, b2);
  CHECK(c.t1 == 27504);
  CHECK(c.t2 == 26435);
  CHECK(c.t3 == -1000);
  CHECK(c.p1 == (0x17 << 8 | 0x16));
  CHECK(c.p6 == -7);
  CHECK(c.h1 == 75);
  CHECK(c.h2 == 370);
  CHECK(c.h3 == 0);
  CHECK(c.h4 == 313);
  CHECK(c.h5 == 50);
  CHECK(c.h6 == -30);
  /* H4 and H5 are 12-bit signed: the high byte carries the sign. */
  b2[3] = 0xFE; b2[4] = 0x8F; b2[5] = 0xFF; /* H4 = 0xFEF = -17, H5 = 0xFF8 = -8 */
  bme280_parse_calib(&c, b1, b2);
  CHECK(c.h4 == -17);
  CHECK(c.h5 == -8);
}

static void test_measure_time(void) {
  CHECK(bme280_measure_time_us(1, 1, 1, false) == 8000);
  CHECK(bme280_measure_time_us(1, 1, 1, true) == 9300);
  CHECK(bme280_measure_time_us(1, 0, 0, false) == 3000);
  CHECK(bme280_measure_time_us(5, 5, 5, true) == 112800);
  CHECK(bme280_measure_time_us(7, 6, 5, true) == 112800); /* codes 5..7 all x16 */
  CHECK(bme280_measure_time_us(0, 0, 0, false) == 1000);
}

/* ---- the model, through its ops ---- */

typedef struct {
  uint64_t now;
} test_clock_t;

static uint64_t test_now(void *ctx) { return ((test_clock_t *)ctx)->now; }

static void test_read(vhw_part_t *p, uint8_t reg, uint8_t *out, size_t n) {
  uint8_t tx[64] = {0}, rx[64];
  tx[0] = reg | 0x80;
  test_xfer(p, tx, rx, n + 1);
  memcpy(out, rx + 1, n);
}

static uint8_t test_read8(vhw_part_t *p, uint8_t reg) {
  uint8_t v;
  test_read(p, reg, &v, 1);
  return v;
}

static void test_write8(vhw_part_t *p, uint8_t reg, uint8_t v) {
  uint8_t tx[2] = {(uint8_t)(reg & 0x7F), v};
  test_xfer(p, tx, NULL, 2);
}

static void test_read_calib(vhw_part_t *p, bme280_calib_t *c) {
  uint8_t b1[BME280_CALIB1_LEN], b2[BME280_CALIB2_LEN];
  test_read(p, BME280_CALIB1_ADDR, b1, sizeof b1);
  test_read(p, BME280_CALIB2_ADDR, b2, sizeof b2);
  bme280_parse_calib(c, b1, b2);
}

typedef struct {
  int32_t t, p, h;
} test_raw_t;

static test_raw_t test_read_raw(vhw_part_t *p) {
  uint8_t d[8];
  test_read(p, 0xF7, d, 8);
  test_raw_t r;
  r.p = (int32_t)d[0] << 12 | d[1] << 4 | d[2] >> 4;
  r.t = (int32_t)d[3] << 12 | d[4] << 4 | d[5] >> 4;
  r.h = (int32_t)d[6] << 8 | d[7];
  return r;
}

/* Forced measurement with the given oversampling codes; the clock moves on
 * by the typical conversion time. */
static test_raw_t test_forced(vhw_part_t *p, test_clock_t *clk, unsigned ot, unsigned op,
                              unsigned oh) {
  test_write8(p, 0xF2, (uint8_t)oh);
  test_write8(p, 0xF4, (uint8_t)(ot << 5 | op << 2 | 1));
  CHECK(test_read8(p, 0xF3) & 0x08); /* measuring */
  clk->now += bme280_measure_time_us(ot, op, oh, false);
  CHECK((test_read8(p, 0xF3) & 0x08) == 0);
  CHECK((test_read8(p, 0xF4) & 3) == 0); /* back in sleep mode */
  return test_read_raw(p);
}

/* Field by field: the struct has padding. */
static bool test_calib_equal(const bme280_calib_t *a, const bme280_calib_t *b) {
  return a->t1 == b->t1 && a->t2 == b->t2 && a->t3 == b->t3 && a->p1 == b->p1 &&
         a->p2 == b->p2 && a->p3 == b->p3 && a->p4 == b->p4 && a->p5 == b->p5 &&
         a->p6 == b->p6 && a->p7 == b->p7 && a->p8 == b->p8 && a->p9 == b->p9 &&
         a->h1 == b->h1 && a->h2 == b->h2 && a->h3 == b->h3 && a->h4 == b->h4 &&
         a->h5 == b->h5 && a->h6 == b->h6;
}

static vhw_part_t *test_new_model(test_clock_t *clk) {
  vhw_env_t env = {test_now, NULL, clk};
  vhw_part_t *p = vhw_bme280_new(&env);
  CHECK(p != NULL);
  if (!p) exit(1);
  return p;
}

static void test_model_registers(void) {
  test_clock_t clk = {1000};
  vhw_part_t *p = test_new_model(&clk);
  CHECK(strcmp(p->ops->type, "bme280") == 0);
  CHECK(p->spi_modes == 0x9);
  CHECK(p->spi_max_hz == 10000000);
  CHECK(test_read8(p, 0xD0) == 0x60);
  CHECK(test_read8(p, 0xF3) & 0x01); /* NVM copy after power-on */
  clk.now += 2000;
  CHECK(test_read8(p, 0xF3) == 0);
  /* Power-on data registers: 0x80000 / 0x8000. */
  test_raw_t r = test_read_raw(p);
  CHECK(r.p == 0x80000 && r.t == 0x80000 && r.h == 0x8000);

  bme280_calib_t c;
  test_read_calib(p, &c);
  CHECK(test_calib_equal(&c, &test_calib));

  /* Several address/data pairs in one write transaction. */
  uint8_t tx[4] = {0x72, 0x05, 0x75, 0xA0};
  test_xfer(p, tx, NULL, 4);
  CHECK(test_read8(p, 0xF2) == 0x05);
  CHECK(test_read8(p, 0xF5) == 0xA0);
  /* Auto-increment across control registers. */
  uint8_t three[3];
  test_read(p, 0xF2, three, 3);
  CHECK(three[0] == 0x05 && three[1] == 0x00 && three[2] == 0x00);

  /* Soft reset: defaults back, im_update for a while. */
  test_write8(p, 0xE0, 0xB6);
  CHECK(test_read8(p, 0xF2) == 0 && test_read8(p, 0xF5) == 0);
  CHECK(test_read8(p, 0xF3) & 0x01);
  clk.now += 2000;
  CHECK(test_read8(p, 0xF3) == 0);
  /* Anything but 0xB6 is not a reset; read-only registers stay. */
  test_write8(p, 0xF2, 3);
  test_write8(p, 0xE0, 0xB5);
  test_write8(p, 0xD0, 0x12);
  CHECK(test_read8(p, 0xF2) == 3);
  CHECK(test_read8(p, 0xD0) == 0x60);
  CHECK(test_read8(p, 0xE0) == 0);
  p->ops->destroy(p);
}

/* Driver output equals the physical values, within the chip's resolution,
 * for a grid of conditions and every oversampling setting. */
static void test_model_values(void) {
  test_clock_t clk = {0};
  vhw_part_t *p = test_new_model(&clk);
  clk.now += 2000;
  bme280_calib_t c;
  test_read_calib(p, &c);
  static const double temps[] = {-40, -10.5, 0, 21.37, 25, 60, 85};
  static const double press[] = {30000, 70000.5, 101325, 110000};
  static const double hums[] = {0, 0.5, 33.3, 75, 100};
  for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++) {
    for (size_t j = 0; j < sizeof press / sizeof press[0]; j++) {
      for (size_t k = 0; k < sizeof hums / sizeof hums[0]; k++) {
        CHECK(p->ops->set(p, "temperature", temps[i]) == VHW_OK);
        CHECK(p->ops->set(p, "pressure", press[j]) == VHW_OK);
        CHECK(p->ops->set(p, "humidity", hums[k]) == VHW_OK);
        for (unsigned osr = 1; osr <= 5; osr++) {
          test_raw_t r = test_forced(p, &clk, osr, osr, osr);
          /* 16 bits at x1 .. 20 bits at x16: step in raw counts */
          double step = (double)(1 << (5 - osr));
          int32_t t_fine;
          double t = bme280_compensate_t(&c, r.t, &t_fine) / 100.0;
          double pa = bme280_compensate_p(&c, r.p, t_fine) / 256.0;
          double h = bme280_compensate_h(&c, r.h, t_fine) / 1024.0;
          CHECK_NEAR(t, temps[i], 0.005 + 0.0004 * step);
          CHECK_NEAR(pa, press[j], 0.2 + 0.2 * step);
          CHECK_NEAR(h, hums[k], 0.01);
        }
      }
    }
  }
  double v;
  CHECK(p->ops->get(p, "temperature", &v) == VHW_OK && v == 85);
  CHECK(p->ops->get(p, "humidity", &v) == VHW_OK && v == 100);
  p->ops->destroy(p);
}

static void test_model_settings(void) {
  test_clock_t clk = {0};
  vhw_part_t *p = test_new_model(&clk);
  clk.now += 2000;
  bme280_calib_t c;
  test_read_calib(p, &c);
  p->ops->set(p, "temperature", 21.5);

  /* Skipped measurements read 0x80000 / 0x8000. */
  test_raw_t r = test_forced(p, &clk, 1, 0, 0);
  CHECK(r.p == 0x80000 && r.h == 0x8000 && r.t != 0x80000);
  CHECK_NEAR(bme280_compensate_t(&c, r.t, NULL) / 100.0, 21.5, 0.01);
  r = test_forced(p, &clk, 0, 1, 1);
  CHECK(r.t == 0x80000 && r.p != 0x80000 && r.h != 0x8000);

  /* Resolution: x1 leaves the low 4 bits of the 20-bit value at 0. */
  r = test_forced(p, &clk, 1, 1, 1);
  CHECK((r.t & 0xF) == 0 && (r.p & 0xF) == 0);

  /* ctrl_hum takes effect only with the next ctrl_meas write. */
  test_write8(p, 0xF2, 0);
  test_write8(p, 0xF4, 1 << 5 | 1 << 2 | 1);
  test_write8(p, 0xF2, 1); /* too late for this conversion */
  clk.now += 20000;
  r = test_read_raw(p);
  CHECK(r.h == 0x8000);

  /* The conversion takes the datasheet's typical time: x16 for all three
   * is 1 + 32 + 32.5 + 32.5 = 98 ms. */
  test_write8(p, 0xF2, 5);
  test_write8(p, 0xF4, 5 << 5 | 5 << 2 | 1);
  clk.now += 97900;
  CHECK(test_read8(p, 0xF3) & 0x08);
  clk.now += 100;
  CHECK((test_read8(p, 0xF3) & 0x08) == 0);

  /* Mode 0b10 is forced as well. */
  test_write8(p, 0xF4, 1 << 5 | 2);
  CHECK(test_read8(p, 0xF3) & 0x08);
  clk.now += 40000; /* humidity x16 still in effect: 35.5 ms */
  CHECK((test_read8(p, 0xF4) & 3) == 0);

  /* Normal mode: conversions every t_meas + t_standby; t_sb 62.5 ms. */
  test_write8(p, 0xF5, 1 << 5);
  test_write8(p, 0xF2, 1);
  test_write8(p, 0xF4, 1 << 5 | 1 << 2 | 3); /* t_meas = 8 ms */
  CHECK(test_read8(p, 0xF3) & 0x08);
  CHECK((test_read8(p, 0xF4) & 3) == 3);
  clk.now += 8000;
  CHECK((test_read8(p, 0xF3) & 0x08) == 0);
  p->ops->set(p, "temperature", 30.0);
  r = test_read_raw(p);
  CHECK_NEAR(bme280_compensate_t(&c, r.t, NULL) / 100.0, 21.5, 0.01); /* not yet converted */
  clk.now += 62500;                                                    /* next cycle starts */
  CHECK(test_read8(p, 0xF3) & 0x08);
  clk.now += 8000;
  r = test_read_raw(p);
  CHECK_NEAR(bme280_compensate_t(&c, r.t, NULL) / 100.0, 30.0, 0.01);
  /* Config writes are ignored in normal mode (the datasheet allows it). */
  test_write8(p, 0xF5, 4 << 2);
  CHECK(test_read8(p, 0xF5) == 1 << 5);
  test_write8(p, 0xF4, 0); /* sleep */
  CHECK((test_read8(p, 0xF3) & 0x08) == 0);

  /* IIR filter (coefficient 16): a step reaches the output gradually. */
  test_write8(p, 0xF5, 4 << 2);
  CHECK(test_read8(p, 0xF5) == 4 << 2);
  r = test_forced(p, &clk, 1, 1, 0);
  CHECK_NEAR(bme280_compensate_t(&c, r.t, NULL) / 100.0, 30.0, 0.01);
  p->ops->set(p, "temperature", 40.0);
  r = test_forced(p, &clk, 1, 1, 0);
  double t1 = bme280_compensate_t(&c, r.t, NULL) / 100.0;
  CHECK(t1 > 30.3 && t1 < 31.0); /* 1/16 of the way */
  for (int i = 0; i < 150; i++) r = test_forced(p, &clk, 1, 1, 0);
  CHECK_NEAR(bme280_compensate_t(&c, r.t, NULL) / 100.0, 40.0, 0.01);
  p->ops->destroy(p);
}

static void test_model_faults(void) {
  test_clock_t clk = {0};
  vhw_part_t *p = test_new_model(&clk);
  clk.now += 2000;
  /* Out of range and unknown keys. */
  CHECK(p->ops->set(p, "temperature", 85.5) == VHW_ERANGE);
  CHECK(p->ops->set(p, "temperature", -41) == VHW_ERANGE);
  CHECK(p->ops->set(p, "temperature", NAN) == VHW_ERANGE);
  CHECK(p->ops->set(p, "pressure", 29999) == VHW_ERANGE);
  CHECK(p->ops->set(p, "pressure", 110001) == VHW_ERANGE);
  CHECK(p->ops->set(p, "humidity", 100.5) == VHW_ERANGE);
  CHECK(p->ops->set(p, "humidity", -0.1) == VHW_ERANGE);
  CHECK(p->ops->set(p, "fault", 4) == VHW_ERANGE);
  CHECK(p->ops->set(p, "raw_t", 0x100000) == VHW_ERANGE);
  CHECK(p->ops->set(p, "raw_h", 0x10000) == VHW_ERANGE);
  CHECK(p->ops->set(p, "raw_p", 1.5) == VHW_ERANGE);
  CHECK(p->ops->set(p, "colour", 1) == VHW_EKEY);
  double v;
  CHECK(p->ops->get(p, "colour", &v) == VHW_EKEY);
  CHECK(p->ops->get(p, "temperature", &v) == VHW_OK && v == 25.0);
  const char *const *k = p->ops->keys;
  CHECK(k && strcmp(k[0], "temperature") == 0 && k[7] == NULL);

  /* fault 1: nobody answers, writes are lost. */
  CHECK(p->ops->set(p, "fault", 1) == VHW_OK);
  CHECK(test_read8(p, 0xD0) == 0xFF);
  test_write8(p, 0xF2, 3);
  CHECK(p->ops->set(p, "fault", 0) == VHW_OK);
  CHECK(test_read8(p, 0xD0) == 0x60);
  CHECK(test_read8(p, 0xF2) == 0);

  /* fault 2: the measuring bit never clears, data never arrives. */
  p->ops->set(p, "fault", 2);
  test_write8(p, 0xF4, 1 << 5 | 1);
  clk.now += 1000000;
  CHECK(test_read8(p, 0xF3) & 0x08);
  CHECK(test_read_raw(p).t == 0x80000);
  p->ops->set(p, "fault", 0);
  clk.now += 3000;
  CHECK((test_read8(p, 0xF3) & 0x08) == 0);
  CHECK(test_read_raw(p).t != 0x80000);
  CHECK(p->fault == VHW_FAULT_NONE);

  /* fault 3: unpowered, MISO low, writes lost; power-on reset after. */
  test_write8(p, 0xF5, 2 << 2);
  CHECK(p->ops->set(p, "fault", 3) == VHW_OK && p->fault == VHW_FAULT_UNPOWERED);
  CHECK(test_read8(p, 0xD0) == 0x00);
  CHECK(p->ops->set(p, "fault", 0) == VHW_OK);
  CHECK(test_read8(p, 0xD0) == 0x60);
  CHECK(test_read8(p, 0xF5) == 0);          /* settings gone */
  CHECK(test_read8(p, 0xF3) & 0x01);        /* NVM copy running again */

  /* Raw overrides replace what the next conversion latches. */
  clk.now += 3000;
  CHECK(p->ops->set(p, "raw_t", 0xFFFFF) == VHW_OK && p->ops->set(p, "raw_h", 0x8000) == VHW_OK);
  test_write8(p, 0xF4, 1 << 5 | 1 << 2 | 1);
  clk.now += 20000;
  CHECK(test_read_raw(p).t == 0xFFFFF);
  CHECK(test_read_raw(p).h == 0x8000);
  double ov;
  CHECK(p->ops->get(p, "raw_t", &ov) == VHW_OK && ov == 0xFFFFF);
  CHECK(p->ops->set(p, "raw_t", -1) == VHW_OK);
  test_write8(p, 0xF4, 1 << 5 | 1 << 2 | 1);
  clk.now += 20000;
  CHECK(test_read_raw(p).t != 0xFFFFF);
  p->ops->destroy(p);
}

int main(void) {
  test_datasheet_example();
  test_integer_matches_double();
  test_parse_calib();
  test_measure_time();
  test_model_registers();
  test_model_values();
  test_model_settings();
  test_model_faults();
  if (test_failures) {
    fprintf(stderr, "test_bme280: %d check(s) failed\n", test_failures);
    return 1;
  }
  printf("test_bme280: ok\n");
  return 0;
}
