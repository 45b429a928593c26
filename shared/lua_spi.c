/* spi: setup(bus, opts) -> device; transfer/write/read on a device or bus. */
#include <stdbool.h>
#include <string.h>

#include "hal/hal_spi.h"
#include "lauxlib.h"
#include "luaos.h"
#include "modreg.h"

#define SPI_DEV_MT "luaos.spi.device"
#define SPI_MAX_BUSES 8

typedef struct {
  int bus;
  hal_spi_config_t cfg;
} spi_dev_t;

/* What each bus was last configured with, so devices sharing a bus are
 * reconfigured only when they take turns. */
typedef struct {
  bool valid;
  hal_spi_config_t cfg;
} spi_bus_state_t;

static spi_bus_state_t spi_buses[SPI_MAX_BUSES];

static int check_bus(lua_State *L, int arg) {
  lua_Integer bus = luaos_checkinteger(L, arg);
  int n = hal_spi_bus_count();
  if (n > SPI_MAX_BUSES) n = SPI_MAX_BUSES;
  if (bus < 0 || bus >= n)
    return luaos_argerror(L, arg, lua_pushfstring(L, "no SPI bus %I on this board (%d buses)",
                                                  (LUAI_UACINT)bus, n));
  return (int)bus;
}

/* An integer option in lo..hi; a string or a float is an error, not
 * converted. */
static lua_Integer opt_field(lua_State *L, int t, const char *k, lua_Integer def,
                             lua_Integer lo, lua_Integer hi) {
  int ty = lua_getfield(L, t, k);
  lua_Integer v = def;
  if (ty != LUA_TNIL) {
    int isnum = 0;
    if (ty == LUA_TNUMBER) v = lua_tointegerx(L, -1, &isnum); /* 1e6 is fine, "1e6" is not */
    if (!isnum) {
      const char *got = ty == LUA_TNUMBER ? "a fraction" : luaL_typename(L, -1);
      luaos_argerror(L, t, lua_pushfstring(L, "option '%s' must be an integer, got %s", k, got));
    }
    if (v < lo || v > hi)
      luaos_argerror(L, t, lua_pushfstring(L, "option '%s' out of range %I..%I", k,
                                          (LUAI_UACINT)lo, (LUAI_UACINT)hi));
  }
  lua_pop(L, 1);
  return v;
}

static int spi_setup(lua_State *L) {
  int bus = check_bus(L, 1);
  if (!lua_isnoneornil(L, 2)) luaos_checktype(L, 2, LUA_TTABLE);
  hal_spi_config_t cfg = {1000000, 0, 8, 0, 0};
  if (lua_istable(L, 2)) {
    static const char *const keys[] = {"mode", "speed", "cs", "bits", "lsb_first", NULL};
    luaos_check_keys(L, 2, keys);
    cfg.mode = (uint8_t)opt_field(L, 2, "mode", 0, 0, 3);
    cfg.speed_hz = (uint32_t)opt_field(L, 2, "speed", 1000000, 1, 1000000000);
    cfg.cs = (uint8_t)opt_field(L, 2, "cs", 0, 0, 255);
    cfg.bits = (uint8_t)opt_field(L, 2, "bits", 8, 8, 8);
    int ty = lua_getfield(L, 2, "lsb_first");
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
      luaos_argerror(L, 2, lua_pushfstring(L, "option 'lsb_first' must be a boolean, got %s",
                                          luaL_typename(L, -1)));
    cfg.lsb_first = (uint8_t)lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  int rc = hal_spi_configure(bus, &cfg);
  if (rc < 0) return luaL_error(L, "spi.setup bus %d: %s", bus, hal_strerror(rc));
  spi_buses[bus].valid = true;
  spi_buses[bus].cfg = cfg;
  spi_dev_t *d = lua_newuserdatauv(L, sizeof *d, 0);
  d->bus = bus;
  d->cfg = cfg;
  luaL_setmetatable(L, SPI_DEV_MT);
  return 1;
}

/* First argument: a device from spi.setup, or a bus number (then the
 * device last set up on it). Makes the bus ready for that device. */
static int select_target(lua_State *L) {
  spi_dev_t *d = luaL_testudata(L, 1, SPI_DEV_MT);
  int bus;
  if (d) {
    bus = d->bus;
    if (!spi_buses[bus].valid || memcmp(&spi_buses[bus].cfg, &d->cfg, sizeof d->cfg) != 0) {
      int rc = hal_spi_configure(bus, &d->cfg);
      if (rc < 0) return luaL_error(L, "spi bus %d: %s", bus, hal_strerror(rc));
      spi_buses[bus].valid = true;
      spi_buses[bus].cfg = d->cfg;
    }
  } else {
    if (lua_type(L, 1) != LUA_TNUMBER) return luaos_typeerror(L, 1, "SPI device or bus number");
    bus = check_bus(L, 1);
    if (!spi_buses[bus].valid)
      return luaL_error(L, "spi bus %d is not set up; call spi.setup first", bus);
  }
  return bus;
}

static void do_transfer(lua_State *L, int bus, const uint8_t *tx, uint8_t *rx, size_t n) {
  int rc = hal_spi_transfer(bus, tx, rx, n);
  if (rc < 0) luaL_error(L, "spi bus %d transfer: %s", bus, hal_strerror(rc));
}

/* transfer(dev, tx) -> rx. tx is a string (rx: string) or a table of bytes
 * (rx: table of bytes). */
static int spi_transfer(lua_State *L) {
  int bus = select_target(L);
  if (lua_type(L, 2) == LUA_TSTRING) {
    size_t n;
    const char *tx = lua_tolstring(L, 2, &n);
    luaL_Buffer b;
    uint8_t *rx = (uint8_t *)luaL_buffinitsize(L, &b, n);
    do_transfer(L, bus, (const uint8_t *)tx, rx, n);
    luaL_pushresultsize(&b, n);
    return 1;
  }
  if (!lua_istable(L, 2)) return luaos_typeerror(L, 2, "string or table of bytes");
  size_t n = (size_t)luaL_len(L, 2);
  luaL_Buffer b;
  uint8_t *buf = (uint8_t *)luaL_buffinitsize(L, &b, n);
  for (size_t i = 0; i < n; i++) {
    lua_geti(L, 2, (lua_Integer)i + 1);
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || v < 0 || v > 255)
      return luaos_argerror(L, 2, lua_pushfstring(L, "element %d is not a byte (0..255)",
                                                  (int)i + 1));
    lua_pop(L, 1);
    buf[i] = (uint8_t)v;
  }
  do_transfer(L, bus, buf, buf, n);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, buf[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int spi_write(lua_State *L) {
  int bus = select_target(L);
  size_t n;
  const char *tx = luaos_checklstring(L, 2, &n);
  do_transfer(L, bus, (const uint8_t *)tx, NULL, n);
  return 0;
}

static int spi_read(lua_State *L) {
  int bus = select_target(L);
  lua_Integer n = luaos_checkinteger(L, 2);
  if (n < 0 || n > 65536) luaos_argerror(L, 2, "length must be 0..65536");
  lua_Integer fill = lua_isnoneornil(L, 3) ? 0xFF : luaos_checkinteger(L, 3);
  if (fill < 0 || fill > 255) luaos_argerror(L, 3, "fill must be a byte (0..255)");
  luaL_Buffer b;
  uint8_t *rx = (uint8_t *)luaL_buffinitsize(L, &b, (size_t)n);
  memset(rx, (int)fill, (size_t)n);
  do_transfer(L, bus, rx, rx, (size_t)n);
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

static int dev_tostring(lua_State *L) {
  spi_dev_t *d = luaL_checkudata(L, 1, SPI_DEV_MT);
  lua_pushfstring(L, "spi.device(bus=%d, cs=%d, mode=%d, speed=%d)", d->bus, d->cfg.cs,
                  d->cfg.mode, (int)d->cfg.speed_hz);
  return 1;
}

static int dev_index(lua_State *L) {
  spi_dev_t *d = luaL_checkudata(L, 1, SPI_DEV_MT);
  if (lua_type(L, 2) != LUA_TSTRING) return 0; /* dev[1]: nothing there, as for a table */
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "bus") == 0) lua_pushinteger(L, d->bus);
  else if (strcmp(k, "cs") == 0) lua_pushinteger(L, d->cfg.cs);
  else if (strcmp(k, "mode") == 0) lua_pushinteger(L, d->cfg.mode);
  else if (strcmp(k, "speed") == 0) lua_pushinteger(L, d->cfg.speed_hz);
  else {
    luaL_getmetafield(L, 1, "__methods");
    lua_getfield(L, -1, k);
  }
  return 1;
}

int luaopen_spi(lua_State *L) {
  static const luaL_Reg f[] = {{"setup", spi_setup}, {"transfer", spi_transfer},
                               {"write", spi_write}, {"read", spi_read},
                               {NULL, NULL}};
  static const luaL_Reg methods[] = {{"transfer", spi_transfer}, {"write", spi_write},
                                     {"read", spi_read}, {NULL, NULL}};
  memset(spi_buses, 0, sizeof spi_buses);
  luaL_newmetatable(L, SPI_DEV_MT);
  lua_pushliteral(L, "dev"); /* methods are named dev:transfer in messages, as in the docs */
  lua_setfield(L, -2, "__docname");
  lua_pushcfunction(L, dev_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, dev_index);
  lua_setfield(L, -2, "__index");
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__methods");
  lua_pop(L, 1);
  luaL_newlib(L, f);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  lua_pushinteger(L, hal_spi_bus_count());
  lua_setfield(L, -2, "buses");
  return 1;
}
