/* The `hil` module (simulator only): the board's FTDI adapters, their USB
 * counters, and the emulator's controls (faults, the bytes it received,
 * raw MPSSE commands). */
#include <string.h>

#include "ftdi_board.h"
#include "hal/hal.h"
#include "lauxlib.h"
#include "lua_sim.h"
#include "luaos.h"

/* An adapter by URL or by the number of the SPI bus it carries. */
static ftdi_dev_t *check_adapter(lua_State *L, int arg) {
  ftdi_dev_t *d = NULL;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer bus = luaos_checkinteger(L, arg);
    d = bus >= 0 && bus < BOARD_MAX_BUSES ? ftdi_board_bus_adapter((int)bus) : NULL;
    if (!d) {
      lua_pushfstring(L, "SPI bus %d is not on an adapter", (int)bus);
      luaos_argerror(L, arg, lua_tostring(L, -1));
    }
    return d;
  }
  if (lua_type(L, arg) != LUA_TSTRING) luaos_typeerror(L, arg, "adapter URL or bus number");
  const char *url = lua_tostring(L, arg);
  d = ftdi_board_find(url);
  if (!d) {
    const char *urls[FTDI_MAX_ADAPTERS + 1];
    int n = ftdi_board_adapter_count();
    for (int i = 0; i < n; i++) urls[i] = ftdi_board_adapter(i)->url;
    urls[n] = NULL;
    lua_pushfstring(L, "no adapter '%s' on this board", url);
    if (n) luaos_push_hint(L, url, urls);
    else lua_pushliteral(L, " (the board has none)"), lua_concat(L, 2);
    luaos_argerror(L, arg, lua_tostring(L, -1));
  }
  return d;
}

static ftdi_emu_t *check_emu(lua_State *L, int arg) {
  ftdi_dev_t *d = check_adapter(L, arg);
  if (!d->emu) {
    lua_pushfstring(L, "'%s' is a real adapter, not the emulator (emu://)", d->url);
    luaos_argerror(L, arg, lua_tostring(L, -1));
  }
  return d->emu;
}

static void setint(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* hil.adapters() -> { {url=, chip=, emulated=, open=}, ... } */
static int hil_adapters(lua_State *L) {
  int n = ftdi_board_adapter_count();
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    ftdi_dev_t *d = ftdi_board_adapter(i);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, d->url);
    lua_setfield(L, -2, "url");
    lua_pushstring(L, d->info->label);
    lua_setfield(L, -2, "chip");
    lua_pushboolean(L, d->emu != NULL);
    lua_setfield(L, -2, "emulated");
    lua_pushboolean(L, d->link != NULL);
    lua_setfield(L, -2, "open");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* hil.stats(adapter) -> table of counters */
static int hil_stats(lua_State *L) {
  ftdi_dev_t *d = check_adapter(L, 1);
  lua_createtable(L, 0, 12);
  setint(L, "transactions", d->st.transactions);
  setint(L, "usb_writes", d->st.usb_writes);
  setint(L, "usb_reads", d->st.usb_reads);
  setint(L, "bytes_out", d->st.bytes_out);
  setint(L, "bytes_in", d->st.bytes_in);
  setint(L, "opens", d->st.opens);
  if (d->emu) {
    mpsse_t *m = ftdi_emu_engine(d->emu);
    const mpsse_stats_t *s = mpsse_stats(m);
    setint(L, "commands", s->commands);
    setint(L, "bad_opcodes", s->bad_opcodes);
    setint(L, "flushes", s->flushes);
    setint(L, "bytes_clocked", s->bytes_clocked);
    setint(L, "garbled", s->garbled);
    setint(L, "latency_waits", s->latency_waits);
    lua_pushnumber(L, mpsse_clock_hz(m));
    lua_setfield(L, -2, "clock_hz");
  }
  return 1;
}

static int hil_stats_clear(lua_State *L) {
  ftdi_dev_t *d = check_adapter(L, 1);
  memset(&d->st, 0, sizeof d->st);
  if (d->emu) mpsse_stats_clear(ftdi_emu_engine(d->emu));
  return 0;
}

/* hil.capture(adapter) -> the bytes the emulated adapter received */
static int hil_capture(lua_State *L) {
  ftdi_emu_t *e = check_emu(L, 1);
  size_t n;
  const uint8_t *p = ftdi_emu_capture(e, &n);
  lua_pushlstring(L, (const char *)p, n);
  return 1;
}

static int hil_capture_clear(lua_State *L) {
  ftdi_emu_capture_clear(check_emu(L, 1));
  return 0;
}

/* hil.fault(adapter, name|nil) */
static int hil_fault(lua_State *L) {
  ftdi_emu_t *e = check_emu(L, 1);
  static const char *const names[] = {"absent", "wrong-id", "permission", "ftdi_sio", "unplug",
                                      NULL};
  if (lua_isnoneornil(L, 2)) {
    ftdi_emu_fault(e, NULL);
    return 0;
  }
  if (lua_type(L, 2) != LUA_TSTRING) return luaos_typeerror(L, 2, "fault name or nil");
  const char *f = lua_tostring(L, 2);
  if (!ftdi_emu_fault(e, f)) {
    lua_pushfstring(L, "unknown fault '%s'", f);
    luaos_push_hint(L, f, names);
    return luaos_argerror(L, 2, lua_tostring(L, -1));
  }
  return 0;
}

/* hil.raw(adapter, commands, nread) -> answer: MPSSE bytes as they are, one
 * round trip (for tests of the adapter itself). */
static int hil_raw(lua_State *L) {
  ftdi_dev_t *d = check_adapter(L, 1);
  size_t n;
  const char *cmd = luaos_checklstring(L, 2, &n);
  lua_Integer nread = lua_isnoneornil(L, 3) ? 0 : luaos_checkinteger(L, 3);
  if (nread < 0 || nread > 65536) return luaos_argerror(L, 3, "length must be 0..65536");
  if (n == 0 || n > 1 << 20) return luaos_argerror(L, 2, "1 byte .. 1 MiB of commands");
  int r = ftdi_dev_ensure(d);
  if (r != HAL_OK) return luaL_error(L, "hil.raw: %s", hal_strerror(r));
  luaL_Buffer b;
  uint8_t *in = (uint8_t *)luaL_buffinitsize(L, &b, (size_t)nread + 1);
  int rc = d->link->ops->xfer(d->link, (const uint8_t *)cmd, n, in, (size_t)nread, 200);
  d->st.usb_writes++;
  d->st.bytes_out += n;
  if (nread) d->st.usb_reads++;
  if (rc != FTDI_LINK_OK) {
    const char *why = lua_pushstring(L, d->link->err);
    d->link->ops->close(d->link);
    d->link = NULL;
    d->clock_known = false;
    return luaL_error(L, "hil.raw: %s", why);
  }
  luaL_pushresultsize(&b, (size_t)nread);
  return 1;
}

/* hil.pins(adapter) -> value, direction, MPSSE on (the emulated chip) */
static int hil_pins(lua_State *L) {
  ftdi_emu_t *e = check_emu(L, 1);
  uint16_t v, dir;
  mpsse_pins(ftdi_emu_engine(e), &v, &dir);
  lua_pushinteger(L, v);
  lua_pushinteger(L, dir);
  lua_pushboolean(L, mpsse_enabled(ftdi_emu_engine(e)));
  return 3;
}

/* hil.close(adapter): pins to inputs, bit mode reset, closed (what board
 * unload does); the next use opens it again. */
static int hil_close(lua_State *L) {
  ftdi_dev_close(check_adapter(L, 1));
  return 0;
}

int luaopen_hil(lua_State *L) {
  static const luaL_Reg f[] = {{"adapters", hil_adapters},   {"stats", hil_stats},
                               {"stats_clear", hil_stats_clear}, {"capture", hil_capture},
                               {"capture_clear", hil_capture_clear}, {"fault", hil_fault},
                               {"raw", hil_raw},             {"pins", hil_pins},
                               {"close", hil_close},
                               {NULL, NULL}};
  luaL_newlib(L, f);
  lua_pushinteger(L, FTDI_POLL_US);
  lua_setfield(L, -2, "poll_us");
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
