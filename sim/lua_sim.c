/* sim: the control API tests use to act as the physical world: set what
 * sensors measure, press buttons, look at LEDs, read bus traces. Only in
 * the simulator build. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "hal/hal_console.h"
#include "hal/hal_gpio.h"
#include "lauxlib.h"
#include "lua_sim.h"
#include "luaos.h"
#include "sched.h"
#include "window.h"

#define PART_MT "luaos.sim.part"

typedef struct {
  vhw_part_t *p;
} part_ref_t;

static vhw_part_t *check_part(lua_State *L, int arg) {
  part_ref_t *r = luaL_checkudata(L, arg, PART_MT);
  return r->p;
}

static vhw_part_t *part_by_name(lua_State *L, int arg) {
  const char *name = luaL_checkstring(L, arg);
  vhw_part_t *p = board_find_part(name);
  if (!p) {
    int n = board_part_count();
    const char **names = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *names, 0);
    for (int i = 0; i < n; i++) names[i] = board_part(i)->name;
    names[n] = NULL;
    lua_pushfstring(L, "no part named '%s' on board '%s'", name, board_name());
    if (n > 0) luaos_push_hint(L, name, names);
    luaos_argerror(L, arg, lua_tostring(L, -1));
  }
  return p;
}

static void push_keys(lua_State *L, vhw_part_t *p) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (const char *const *k = p->ops->keys; k && *k; k++) {
    if (k != p->ops->keys) luaL_addstring(&b, ", ");
    luaL_addstring(&b, *k);
  }
  luaL_pushresult(&b);
}

static void set_one(lua_State *L, vhw_part_t *p, const char *key, int vidx) {
  double v;
  if (lua_isboolean(L, vidx))
    v = lua_toboolean(L, vidx);
  else if (lua_type(L, vidx) == LUA_TNUMBER)
    v = lua_tonumber(L, vidx);
  else {
    luaL_error(L, "%s.%s: value must be a number or boolean, got %s", p->name, key,
               luaL_typename(L, vidx));
    return;
  }
  int rc = p->ops->set ? p->ops->set(p, key, v) : VHW_EKEY;
  if (rc == VHW_OK) board_parts_changed();
  if (rc == VHW_EKEY) {
    const char *near = p->ops->keys ? luaos_nearest(key, p->ops->keys) : NULL;
    if (near && strcmp(near, key) != 0)
      luaL_error(L, "%s (%s) has no settable '%s'; did you mean '%s'?", p->name, p->ops->type,
                 key, near);
    push_keys(L, p);
    luaL_error(L, "%s (%s) has no settable '%s' (known: %s)", p->name, p->ops->type, key,
               lua_tostring(L, -1));
  } else if (rc != VHW_OK) {
    luaL_error(L, "%s.%s: value %f out of range", p->name, key, v);
  }
}

/* part:set{k = v, ...} or part:set(k, v) */
static int part_set(lua_State *L) {
  vhw_part_t *p = check_part(L, 1);
  if (lua_istable(L, 2)) {
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_argerror(L, 2, "keys must be strings");
      set_one(L, p, lua_tostring(L, -2), lua_gettop(L));
      lua_pop(L, 1);
    }
    return 0;
  }
  const char *key = luaL_checkstring(L, 2);
  luaL_checkany(L, 3);
  set_one(L, p, key, 3);
  return 0;
}

static int part_get(lua_State *L) {
  vhw_part_t *p = check_part(L, 1);
  const char *key = luaL_checkstring(L, 2);
  double v;
  int rc = p->ops->get ? p->ops->get(p, key, &v) : VHW_EKEY;
  if (rc != VHW_OK) {
    push_keys(L, p);
    return luaL_error(L, "%s (%s) has no '%s' (known: %s)", p->name, p->ops->type, key,
                      lua_tostring(L, -1));
  }
  lua_pushnumber(L, v);
  return 1;
}

static int part_index(lua_State *L) {
  vhw_part_t *p = check_part(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "name") == 0) lua_pushstring(L, p->name);
  else if (strcmp(k, "type") == 0) lua_pushstring(L, p->ops->type);
  else if (strcmp(k, "bus") == 0 && p->bus >= 0) lua_pushinteger(L, p->bus);
  else if (strcmp(k, "cs") == 0 && p->cs >= 0) lua_pushinteger(L, p->cs);
  else if (strcmp(k, "pin") == 0 && p->pin >= 0) lua_pushinteger(L, p->pin);
  else if (strcmp(k, "irq") == 0 && p->irq_pin >= 0) lua_pushinteger(L, p->irq_pin);
  else if (strcmp(k, "set") == 0) lua_pushcfunction(L, part_set);
  else if (strcmp(k, "get") == 0) lua_pushcfunction(L, part_get);
  else lua_pushnil(L);
  return 1;
}

static int part_tostring(lua_State *L) {
  vhw_part_t *p = check_part(L, 1);
  lua_pushfstring(L, "part %s (%s)", p->name, p->ops->type);
  return 1;
}

static void push_part(lua_State *L, vhw_part_t *p) {
  part_ref_t *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->p = p;
  luaL_setmetatable(L, PART_MT);
}

static int sim_part(lua_State *L) {
  push_part(L, part_by_name(L, 1));
  return 1;
}

static int sim_parts(lua_State *L) {
  lua_createtable(L, board_part_count(), 0);
  for (int i = 0; i < board_part_count(); i++) {
    push_part(L, board_part(i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static vhw_part_t *part_of_type(lua_State *L, int arg, const char *type) {
  vhw_part_t *p = part_by_name(L, arg);
  if (strcmp(p->ops->type, type) != 0)
    luaL_argerror(L, arg, lua_pushfstring(L, "'%s' is a %s, not a %s", p->name, p->ops->type,
                                          type));
  return p;
}

static int sim_press(lua_State *L) {
  vhw_part_t *p = part_of_type(L, 1, "button");
  p->ops->set(p, "pressed", 1);
  return 0;
}

static int sim_release(lua_State *L) {
  vhw_part_t *p = part_of_type(L, 1, "button");
  p->ops->set(p, "pressed", 0);
  return 0;
}

static int sim_switch(lua_State *L) {
  vhw_part_t *p = part_of_type(L, 1, "switch");
  luaL_checkany(L, 2);
  int on = lua_type(L, 2) == LUA_TNUMBER ? lua_tonumber(L, 2) != 0 : lua_toboolean(L, 2);
  p->ops->set(p, "on", on);
  return 0;
}

static int sim_led(lua_State *L) {
  vhw_part_t *p = part_of_type(L, 1, "led");
  double v = 0;
  p->ops->get(p, "lit", &v);
  lua_pushboolean(L, v != 0);
  return 1;
}

/* A pin number (range-checked as a 64-bit integer: 2^32 + 1 is no pin,
 * not pin 1) or a pin name (with a hint for a near miss). */
static int check_pin(lua_State *L, int arg) {
  int n = hal_gpio_count();
  if (lua_type(L, arg) == LUA_TSTRING) {
    const char *name = lua_tostring(L, arg);
    int pin = hal_gpio_find(name);
    if (pin < 0) {
      const char *names[BOARD_MAX_PINS + 1];
      int k = 0;
      for (int i = 0; i < n && k < BOARD_MAX_PINS; i++)
        if (hal_gpio_name(i)) names[k++] = hal_gpio_name(i);
      names[k] = NULL;
      lua_pushfstring(L, "no pin named '%s'", name);
      if (k > 0) luaos_push_hint(L, name, names);
      return luaL_argerror(L, arg, lua_tostring(L, -1));
    }
    return pin;
  }
  if (lua_type(L, arg) == LUA_TNUMBER && !lua_isinteger(L, arg)) {
    /* 2^63 or -1e300: a whole number, just no pin (1.5 is refused below). */
    lua_Number x = lua_tonumber(L, arg);
    lua_Integer i;
    if (x == floor(x) && !lua_numbertointeger(x, &i))
      return luaL_argerror(L, arg, lua_pushfstring(L, "no such pin (pins are 0..%d)", n - 1));
  }
  lua_Integer pin = luaL_checkinteger(L, arg);
  if (pin < 0 || pin >= n)
    return luaL_argerror(L, arg, lua_pushfstring(L, "no such pin (pins are 0..%d)", n - 1));
  return (int)pin;
}

/* sim.pin(pin) -> level on the wire */
static int sim_pin(lua_State *L) {
  lua_pushinteger(L, board_pin_level(check_pin(L, 1)));
  return 1;
}

/* sim.drive(pin, 0|1|nil): drive a pin from outside (nil lets go). */
static int sim_drive(lua_State *L) {
  int pin = check_pin(L, 1);
  if (lua_isnoneornil(L, 2)) {
    board_pin_drive(pin, -1);
    return 0;
  }
  int level;
  if (lua_isboolean(L, 2))
    level = lua_toboolean(L, 2);
  else {
    lua_Integer v = luaL_checkinteger(L, 2);
    luaL_argcheck(L, v == 0 || v == 1, 2, "level must be 0, 1, true, false or nil");
    level = (int)v;
  }
  board_pin_drive(pin, level);
  return 0;
}

/* The part's own words for a traced transaction (its spi_describe), as
 * the window's SPI view shows it: field `text`, when it has something to say. */
static void push_description(lua_State *L, const board_spi_rec_t *r, size_t kept) {
  if (r->fault == 1) return;
  for (int i = 0; i < board_part_count(); i++) {
    vhw_part_t *p = board_part(i);
    if (p->bus != r->bus || p->cs != r->cs || !p->ops->spi_describe) continue;
    char text[128];
    if (p->ops->spi_describe(p, r->tx, r->rx, kept, r->len, text, sizeof text) > 0) {
      lua_pushstring(L, text);
      lua_setfield(L, -2, "text");
    }
    return;
  }
}

static int sim_spi_trace(lua_State *L) {
  const board_spi_rec_t *recs;
  size_t first, n = board_spi_trace(&recs, &first);
  luaL_checkstack(L, 4, NULL);
  lua_createtable(L, (int)(n - first), 0);
  for (size_t i = first; i < n; i++) {
    const board_spi_rec_t *r = &recs[i % BOARD_TRACE_MAX];
    size_t kept = r->len < BOARD_TRACE_BYTES ? r->len : BOARD_TRACE_BYTES;
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, r->bus);
    lua_setfield(L, -2, "bus");
    lua_pushinteger(L, r->cs);
    lua_setfield(L, -2, "cs");
    lua_pushlstring(L, (const char *)r->tx, kept);
    lua_setfield(L, -2, "tx");
    lua_pushlstring(L, (const char *)r->rx, kept);
    lua_setfield(L, -2, "rx");
    lua_pushinteger(L, (lua_Integer)r->len);
    lua_setfield(L, -2, "len");
    lua_pushnumber(L, (lua_Number)r->t_us / 1000.0);
    lua_setfield(L, -2, "t");
    if (r->fault) {
      lua_pushstring(L, r->fault == 1 ? "no device" : "bad mode or speed");
      lua_setfield(L, -2, "fault");
    }
    push_description(L, r, kept);
    lua_rawseti(L, -2, (lua_Integer)(i - first + 1));
  }
  return 1;
}

static int sim_spi_trace_clear(lua_State *L) {
  (void)L;
  board_spi_trace_clear();
  return 0;
}

static int sim_gpio_trace(lua_State *L) {
  const board_gpio_rec_t *recs;
  size_t first, n = board_gpio_trace(&recs, &first);
  luaL_checkstack(L, 4, NULL);
  lua_createtable(L, (int)(n - first), 0);
  for (size_t i = first; i < n; i++) {
    const board_gpio_rec_t *r = &recs[i % BOARD_TRACE_MAX];
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, r->pin);
    lua_setfield(L, -2, "pin");
    lua_pushinteger(L, r->level);
    lua_setfield(L, -2, "level");
    lua_pushboolean(L, r->output);
    lua_setfield(L, -2, "output");
    lua_pushnumber(L, (lua_Number)r->t_us / 1000.0);
    lua_setfield(L, -2, "t");
    lua_rawseti(L, -2, (lua_Integer)(i - first + 1));
  }
  return 1;
}

static int sim_gpio_trace_clear(lua_State *L) {
  (void)L;
  board_gpio_trace_clear();
  return 0;
}

/* sim.fault(part, kind) injects a fault after start-up ("disconnect",
 * "stuck", "unpowered"; nil clears it); sim.fault(part) -> the current
 * kind or nil. */
static int sim_fault(lua_State *L) {
  vhw_part_t *p = part_by_name(L, 1);
  if (lua_gettop(L) < 2) {
    if (p->fault == VHW_FAULT_NONE)
      lua_pushnil(L);
    else
      lua_pushstring(L, vhw_fault_names[p->fault - 1]);
    return 1;
  }
  int f = VHW_FAULT_NONE;
  if (!lua_isnil(L, 2)) {
    const char *kind = luaL_checkstring(L, 2);
    f = vhw_fault_find(kind);
    if (f < 0) {
      lua_pushfstring(L, "unknown fault '%s'", kind);
      luaos_push_hint(L, kind, vhw_fault_names);
      return luaL_argerror(L, 2, lua_tostring(L, -1));
    }
  }
  if (!p->ops->set || p->ops->set(p, "fault", f) != VHW_OK)
    return luaL_argerror(L, 2, lua_pushfstring(L, "%s (%s) does not model the fault '%s'",
                                               p->name, p->ops->type, lua_tostring(L, 2)));
  board_parts_changed();
  return 0;
}

/* sim.display_pixels(name [, x, y, w, h]) -> width, height, pixels, on:
 * the glass of a display part (or the rectangle given), row-major, two
 * bytes per pixel, RGB565 little-endian (string.unpack("<I2", s, 2*i+1)). */
static int sim_display_pixels(lua_State *L) {
  vhw_part_t *p = part_by_name(L, 1);
  const vhw_screen_t *scr = p->ops->screen ? p->ops->screen(p) : NULL;
  if (!scr)
    return luaos_argerror(L, 1, lua_pushfstring(L, "'%s' is a %s, not a display", p->name,
                                                p->ops->type));
  lua_Integer x = 0, y = 0, w = scr->width, h = scr->height;
  if (!lua_isnoneornil(L, 2)) {
    x = luaos_checkinteger(L, 2);
    y = luaos_checkinteger(L, 3);
    w = luaos_checkinteger(L, 4);
    h = luaos_checkinteger(L, 5);
    if (x < 0 || x >= scr->width) luaos_argerror(L, 2, "x out of the screen");
    if (y < 0 || y >= scr->height) luaos_argerror(L, 3, "y out of the screen");
    if (w < 1 || w > scr->width - x) luaos_argerror(L, 4, "width out of the screen");
    if (h < 1 || h > scr->height - y) luaos_argerror(L, 5, "height out of the screen");
  }
  luaL_checkstack(L, 4, NULL);
  lua_pushinteger(L, w);
  lua_pushinteger(L, h);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, (size_t)(w * h * 2));
  for (lua_Integer r = 0; r < h; r++)
    for (lua_Integer c = 0; c < w; c++) {
      uint16_t v = scr->pixels[(y + r) * scr->width + x + c];
      *out++ = (char)(v & 0xFF);
      *out++ = (char)(v >> 8);
    }
  luaL_pushresultsize(&b, (size_t)(w * h * 2));
  lua_pushboolean(L, scr->on);
  return 4;
}

static int sim_board(lua_State *L) {
  lua_pushstring(L, board_name());
  return 1;
}

/* sim.screenshot(path): a PNG of the window as it is now (sim/window.c). */
static int sim_screenshot(lua_State *L) {
  size_t n;
  const char *path = luaL_checklstring(L, 1, &n);
  /* As --screenshot: a PNG's name (and no file named by a stray string). */
  luaL_argcheck(L, n > 4 && path[n - 5] != '/' && strlen(path) == n &&
                       strcmp(path + n - 4, ".png") == 0,
                1, "a file name ending in .png expected");
  char err[400];
  if (!window_screenshot(path, err, sizeof err)) return luaL_error(L, "sim.screenshot: %s", err);
  lua_pushboolean(L, 1);
  return 1;
}

int luaopen_sim(lua_State *L) {
  static const luaL_Reg f[] = {{"part", sim_part},
                               {"parts", sim_parts},
                               {"press", sim_press},
                               {"release", sim_release},
                               {"switch", sim_switch},
                               {"led", sim_led},
                               {"pin", sim_pin},
                               {"drive", sim_drive},
                               {"spi_trace", sim_spi_trace},
                               {"spi_trace_clear", sim_spi_trace_clear},
                               {"gpio_trace", sim_gpio_trace},
                               {"gpio_trace_clear", sim_gpio_trace_clear},
                               {"board", sim_board},
                               {"fault", sim_fault},
                               {"screenshot", sim_screenshot},
                               {"display_pixels", sim_display_pixels},
                               {NULL, NULL}};
  luaL_newmetatable(L, PART_MT);
  lua_pushcfunction(L, part_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, part_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  board_gpio_trace_listen(true); /* the GPIO trace can be read from now on */
  luaL_newlib(L, f);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}

int sim_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  hal_console_write(s, len);
  return 0;
}

/* io.write while the default output is the process's stdout: the same
 * bytes as one console write (so the window's pane and the REPL see
 * them, as with print); to any other file, the stock io.write (upvalue 1). */
static int sim_io_write(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output"); /* liolib's default output */
  luaL_Stream *out = luaL_testudata(L, -1, LUA_FILEHANDLE);
  lua_pop(L, 1);
  if (!out || out->f != stdout) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    luaL_checklstring(L, i, NULL); /* io.write's check: strings and numbers */
    lua_pushvalue(L, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len;
  const char *text = lua_tolstring(L, -1, &len);
  fflush(stdout); /* bytes the stock io.write buffered come first */
  if (len) hal_console_write(text, len);
  lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");
  return 1;
}

void sim_console_io(lua_State *L) {
  lua_pushcfunction(L, sim_print);
  lua_setglobal(L, "print");
  int top = lua_gettop(L);
  if (lua_getglobal(L, "io") == LUA_TTABLE && lua_getfield(L, -1, "write") == LUA_TFUNCTION &&
      lua_tocfunction(L, -1) != sim_io_write) {
    lua_pushcclosure(L, sim_io_write, 1);
    lua_setfield(L, -2, "write");
  }
  lua_settop(L, top);
}
