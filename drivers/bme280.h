/* Bosch BME280: calibration parsing and the datasheet's integer
 * compensation (section 4.2.3). Pure C with no HAL or Lua, so the C tests
 * can check it alone; the Lua binding is in bme280_lua.c. */
#ifndef BME280_H
#define BME280_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Register blocks holding the trimming values. */
#define BME280_CALIB1_ADDR 0x88 /* 0x88..0xA1: dig_T*, dig_P*, dig_H1 */
#define BME280_CALIB1_LEN 26
#define BME280_CALIB2_ADDR 0xE1 /* 0xE1..0xE7: dig_H2..dig_H6 */
#define BME280_CALIB2_LEN 7

/* Raw values the chip reports for a skipped measurement (osrs = 0). */
#define BME280_SKIPPED_20 0x80000
#define BME280_SKIPPED_16 0x8000

typedef struct {
  uint16_t t1;
  int16_t t2, t3;
  uint16_t p1;
  int16_t p2, p3, p4, p5, p6, p7, p8, p9;
  uint8_t h1, h3;
  int16_t h2, h4, h5;
  int8_t h6;
} bme280_calib_t;

/* Decode the two calibration blocks as read from the chip. */
void bme280_parse_calib(bme280_calib_t *c, const uint8_t b1[BME280_CALIB1_LEN],
                        const uint8_t b2[BME280_CALIB2_LEN]);

/* Temperature in 0.01 degC; *t_fine receives the value the pressure and
 * humidity formulas need. adc_t: 20-bit raw value. */
int32_t bme280_compensate_t(const bme280_calib_t *c, int32_t adc_t, int32_t *t_fine);
/* Pressure in Pa as Q24.8 (Pa * 256); adc_p: 20-bit raw value. */
uint32_t bme280_compensate_p(const bme280_calib_t *c, int32_t adc_p, int32_t t_fine);
/* Relative humidity in %RH as Q22.10 (%RH * 1024), 0..100 %RH; adc_h:
 * 16-bit raw value. */
uint32_t bme280_compensate_h(const bme280_calib_t *c, int32_t adc_h, int32_t t_fine);

/* Datasheet measurement time (section 9.1) in microseconds for the
 * oversampling codes (register values 0..5, 0 = skipped); max: the
 * guaranteed upper bound instead of the typical time. */
uint32_t bme280_measure_time_us(unsigned osrs_t, unsigned osrs_p, unsigned osrs_h, bool max);

/* The native module "bme280.core" (bme280_lua.c), for drivers_modules[].
 * Declared with the struct tag so this header does not need lua.h. */
struct lua_State;
int luaopen_bme280_core(struct lua_State *L);

#endif
