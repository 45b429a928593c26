/* bme280.core: the native half of the BME280 driver (lua/bme280.lua does
 * the bus work). Compensation is 64-bit integer arithmetic that boards
 * without an FPU would run slowly as Lua floats, so it lives here.
 *
 *   core.parse_calib(block_0x88, block_0xE1) -> calib
 *   core.compensate(calib, raw_t [, raw_p [, raw_h]]) -> degC, Pa|nil, %RH|nil
 *   core.measure_time(osrs_t, osrs_p, osrs_h [, max]) -> ms
 */
#include <string.h>

#include "bme280.h"
#include "lauxlib.h"
#include "luaos.h"

#define BME280_CALIB_MT "bme280.calib"

static const bme280_calib_t *bme280_check_calib(lua_State *L, int arg) {
  return luaos_checkudata(L, arg, BME280_CALIB_MT, "bme280 calibration");
}

static const uint8_t *bme280_check_block(lua_State *L, int arg, size_t want, const char *what) {
  size_t n;
  const char *s = luaos_checklstring(L, arg, &n);
  if (n != want)
    luaos_argerror(L, arg, lua_pushfstring(L, "%s must be %d bytes (got %d)", what, (int)want,
                                           (int)n));
  return (const uint8_t *)s;
}

static int bme280_l_parse_calib(lua_State *L) {
  const uint8_t *b1 = bme280_check_block(L, 1, BME280_CALIB1_LEN, "calibration block 0x88..0xA1");
  const uint8_t *b2 = bme280_check_block(L, 2, BME280_CALIB2_LEN, "calibration block 0xE1..0xE7");
  bme280_calib_t *c = lua_newuserdatauv(L, sizeof *c, 0);
  bme280_parse_calib(c, b1, b2);
  luaL_setmetatable(L, BME280_CALIB_MT);
  return 1;
}

/* A raw ADC value argument: nil/none (not measured) gives -1. */
static lua_Integer bme280_opt_raw(lua_State *L, int arg, lua_Integer max, const char *msg) {
  if (lua_isnoneornil(L, arg)) return -1;
  lua_Integer v = luaos_checkinteger(L, arg);
  if (!(v >= 0 && v <= max)) luaos_argerror(L, arg, msg);
  return v;
}

static int bme280_l_compensate(lua_State *L) {
  const bme280_calib_t *c = bme280_check_calib(L, 1);
  lua_Integer raw_t = luaos_checkinteger(L, 2);
  if (raw_t < 0 || raw_t > 0xFFFFF) luaos_argerror(L, 2, "raw_t must be 0..0xfffff");
  lua_Integer raw_p = bme280_opt_raw(L, 3, 0xFFFFF, "raw_p must be 0..0xfffff");
  lua_Integer raw_h = bme280_opt_raw(L, 4, 0xFFFF, "raw_h must be 0..0xffff");
  /* Without a temperature there is no t_fine, so nothing can be
   * compensated. */
  if (raw_t == BME280_SKIPPED_20) {
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
    return 3;
  }
  int32_t t_fine;
  int32_t t = bme280_compensate_t(c, (int32_t)raw_t, &t_fine);
  lua_pushnumber(L, (lua_Number)t / 100.0);
  if (raw_p < 0 || raw_p == BME280_SKIPPED_20)
    lua_pushnil(L);
  else
    lua_pushnumber(L, (lua_Number)bme280_compensate_p(c, (int32_t)raw_p, t_fine) / 256.0);
  if (raw_h < 0 || raw_h == BME280_SKIPPED_16)
    lua_pushnil(L);
  else
    lua_pushnumber(L, (lua_Number)bme280_compensate_h(c, (int32_t)raw_h, t_fine) / 1024.0);
  return 3;
}

static unsigned bme280_check_osrs(lua_State *L, int arg) {
  lua_Integer v = luaos_checkinteger(L, arg);
  if (!(v >= 0 && v <= 7)) luaos_argerror(L, arg, "oversampling code must be 0..7");
  return (unsigned)v;
}

static int bme280_l_measure_time(lua_State *L) {
  unsigned t = bme280_check_osrs(L, 1), p = bme280_check_osrs(L, 2), h = bme280_check_osrs(L, 3);
  bool max = lua_toboolean(L, 4);
  lua_pushnumber(L, (lua_Number)bme280_measure_time_us(t, p, h, max) / 1000.0);
  return 1;
}

/* calib.dig_T1 ... calib.dig_H6, for inspection. */
static int bme280_calib_index(lua_State *L) {
  const bme280_calib_t *c = bme280_check_calib(L, 1);
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  const char *k = lua_tostring(L, 2);
  const struct {
    const char *name;
    lua_Integer v;
  } f[] = {{"dig_T1", c->t1}, {"dig_T2", c->t2}, {"dig_T3", c->t3}, {"dig_P1", c->p1},
           {"dig_P2", c->p2}, {"dig_P3", c->p3}, {"dig_P4", c->p4}, {"dig_P5", c->p5},
           {"dig_P6", c->p6}, {"dig_P7", c->p7}, {"dig_P8", c->p8}, {"dig_P9", c->p9},
           {"dig_H1", c->h1}, {"dig_H2", c->h2}, {"dig_H3", c->h3}, {"dig_H4", c->h4},
           {"dig_H5", c->h5}, {"dig_H6", c->h6}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    if (strcmp(f[i].name, k) == 0) {
      lua_pushinteger(L, f[i].v);
      return 1;
    }
  }
  return 0;
}

static int bme280_calib_tostring(lua_State *L) {
  const bme280_calib_t *c = bme280_check_calib(L, 1);
  lua_pushfstring(L, "bme280.calib(T1=%d T2=%d T3=%d P1=%d ... H1=%d H2=%d)", (int)c->t1,
                  (int)c->t2, (int)c->t3, (int)c->p1, (int)c->h1, (int)c->h2);
  return 1;
}

int luaopen_bme280_core(lua_State *L) {
  static const luaL_Reg funcs[] = {{"parse_calib", bme280_l_parse_calib},
                                   {"compensate", bme280_l_compensate},
                                   {"measure_time", bme280_l_measure_time},
                                   {NULL, NULL}};
  if (luaL_newmetatable(L, BME280_CALIB_MT)) {
    lua_pushcfunction(L, bme280_calib_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, bme280_calib_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
