/* BME280 compensation: the integer formulas of the datasheet (section
 * 4.2.3). Departures that do not change any result for a real part:
 * - left shifts of possibly negative values are multiplications (a
 *   negative left shift is undefined in C);
 * - temperature and humidity run in 64 bits, so the datasheet's 32-bit
 *   products cannot overflow;
 * - pressure and humidity multiply and add with two's complement
 *   wrap-around, as the datasheet's code does on the MCUs it targets: only
 *   a garbage calibration (e.g. from Lua, core.parse_calib of any bytes)
 *   overflows, and that must give a garbage number, not undefined
 *   behaviour.
 * Right shifts of negative values rely on arithmetic shift, which GCC and
 * Clang define. */
#include "bme280.h"

static uint16_t bme280_u16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }
static int16_t bme280_s16(const uint8_t *b) { return (int16_t)bme280_u16(b); }

void bme280_parse_calib(bme280_calib_t *c, const uint8_t b1[BME280_CALIB1_LEN],
                        const uint8_t b2[BME280_CALIB2_LEN]) {
  c->t1 = bme280_u16(b1 + 0);
  c->t2 = bme280_s16(b1 + 2);
  c->t3 = bme280_s16(b1 + 4);
  c->p1 = bme280_u16(b1 + 6);
  c->p2 = bme280_s16(b1 + 8);
  c->p3 = bme280_s16(b1 + 10);
  c->p4 = bme280_s16(b1 + 12);
  c->p5 = bme280_s16(b1 + 14);
  c->p6 = bme280_s16(b1 + 16);
  c->p7 = bme280_s16(b1 + 18);
  c->p8 = bme280_s16(b1 + 20);
  c->p9 = bme280_s16(b1 + 22);
  /* b1[24] (0xA0) is unused. */
  c->h1 = b1[25];
  c->h2 = bme280_s16(b2 + 0);
  c->h3 = b2[2];
  /* dig_H4 and dig_H5 are signed 12-bit values sharing 0xE5: the high
   * bytes carry the sign, the nibbles of 0xE5 the low bits. */
  c->h4 = (int16_t)((int8_t)b2[3] * 16 + (b2[4] & 0x0F));
  c->h5 = (int16_t)((int8_t)b2[5] * 16 + (b2[4] >> 4));
  c->h6 = (int8_t)b2[6];
}

int32_t bme280_compensate_t(const bme280_calib_t *c, int32_t adc_t, int32_t *t_fine) {
  /* In 64 bits nothing here can overflow for any 32-bit input. */
  int64_t var1 = (((int64_t)(adc_t >> 3) - (int64_t)c->t1 * 2) * c->t2) >> 11;
  int64_t d = (int64_t)(adc_t >> 4) - c->t1;
  int64_t var2 = (((d * d) >> 12) * c->t3) >> 14;
  int32_t tf = (int32_t)(var1 + var2);
  if (t_fine) *t_fine = tf;
  return (int32_t)(((int64_t)tf * 5 + 128) >> 8);
}

/* Wrapping 64-bit arithmetic (unsigned, then back: GCC defines the
 * conversion as modulo 2^64). */
static int64_t bme280_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static int64_t bme280_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t bme280_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }

uint32_t bme280_compensate_p(const bme280_calib_t *c, int32_t adc_p, int32_t t_fine) {
  int64_t var1 = (int64_t)t_fine - 128000;
  int64_t var2 = bme280_mul(bme280_mul(var1, var1), c->p6);
  var2 = bme280_add(var2, bme280_mul(bme280_mul(var1, c->p5), (int64_t)1 << 17));
  var2 = bme280_add(var2, bme280_mul(c->p4, (int64_t)1 << 35));
  var1 = bme280_add(bme280_mul(bme280_mul(var1, var1), c->p3) >> 8,
                    bme280_mul(bme280_mul(var1, c->p2), (int64_t)1 << 12));
  var1 = bme280_mul(bme280_add((int64_t)1 << 47, var1), c->p1) >> 33;
  if (var1 == 0) return 0; /* the datasheet's guard against a zero divisor */
  int64_t p = 1048576 - (int64_t)adc_p;
  p = bme280_mul(bme280_sub(bme280_mul(p, (int64_t)1 << 31), var2), 3125);
  if (var1 == -1 && p == INT64_MIN) return 0; /* the one quotient that traps */
  p /= var1;
  var1 = bme280_mul(bme280_mul(c->p9, p >> 13), p >> 13) >> 25;
  var2 = bme280_mul(c->p8, p) >> 19;
  p = bme280_add(bme280_add(bme280_add(p, var1), var2) >> 8, (int64_t)c->p7 * 16);
  return (uint32_t)p;
}

uint32_t bme280_compensate_h(const bme280_calib_t *c, int32_t adc_h, int32_t t_fine) {
  int64_t v = (int64_t)t_fine - 76800;
  int64_t a = ((int64_t)adc_h * 16384 - (int64_t)c->h4 * 1048576 - bme280_mul(c->h5, v) + 16384) >> 15;
  int64_t b = bme280_mul(bme280_mul(v, c->h6) >> 10, (bme280_mul(v, c->h3) >> 11) + 32768) >> 10;
  b = bme280_mul(b + 2097152, c->h2);
  v = bme280_mul(a, bme280_add(b, 8192) >> 14);
  v = bme280_sub(v, bme280_mul(bme280_mul(v >> 15, v >> 15) >> 7, c->h1) >> 4);
  if (v < 0) v = 0;
  if (v > 419430400) v = 419430400; /* 100 %RH in Q22.10 << 12 */
  return (uint32_t)(v >> 12);
}

/* Oversampling register code -> number of samples. */
static unsigned bme280_osr(unsigned code) {
  static const unsigned n[8] = {0, 1, 2, 4, 8, 16, 16, 16};
  return n[code & 7];
}

uint32_t bme280_measure_time_us(unsigned osrs_t, unsigned osrs_p, unsigned osrs_h, bool max) {
  /* typ: 1 + 2*T + (2*P + 0.5) + (2*H + 0.5) ms; max: 1.25 + 2.3*T +
   * (2.3*P + 0.575) + (2.3*H + 0.575) ms; a skipped measurement adds 0. */
  uint32_t per = max ? 2300 : 2000, extra = max ? 575 : 500;
  uint32_t t = max ? 1250 : 1000;
  unsigned nt = bme280_osr(osrs_t), np = bme280_osr(osrs_p), nh = bme280_osr(osrs_h);
  t += per * nt;
  if (np) t += per * np + extra;
  if (nh) t += per * nh + extra;
  return t;
}
