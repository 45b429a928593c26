/* gpio: mode, read, write, toggle, on (edge handlers run as tasks). */
#include <string.h>

#include "gpio_irq.h"
#include "hal/hal_gpio.h"
#include "lauxlib.h"
#include "luaos.h"
#include "modreg.h"
#include "sched.h"

static const char handlers_key = 'h'; /* registry: pin -> function */

/* "no pin named 'led0' on this board; did you mean 'LED0'?" (the names
 * come from the HAL), raised for argument `arg`. */
static int no_pin_named(lua_State *L, int arg, const char *name) {
  int n = hal_gpio_count();
  const char **names = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *names, 0);
  int k = 0;
  for (int i = 0; i < n; i++)
    if (hal_gpio_name(i)) names[k++] = hal_gpio_name(i);
  names[k] = NULL;
  lua_pushfstring(L, "no pin named '%s' on this board", name);
  if (k > 0) luaos_push_hint(L, name, names);
  return luaos_argerror(L, arg, lua_tostring(L, -1));
}

/* Pin by number or board name. */
static int check_pin(lua_State *L, int arg) {
  int isnum;
  lua_Integer pin = lua_tointegerx(L, arg, &isnum);
  if (isnum) {
    if (pin < 0 || pin >= hal_gpio_count())
      return luaos_argerror(L, arg, lua_pushfstring(L, "no pin %I on this board (0..%d)",
                                                    (LUAI_UACINT)pin, hal_gpio_count() - 1));
    return (int)pin;
  }
  if (lua_type(L, arg) == LUA_TSTRING) {
    int p = hal_gpio_find(lua_tostring(L, arg));
    if (p < 0) return no_pin_named(L, arg, lua_tostring(L, arg));
    return p;
  }
  return luaos_typeerror(L, arg, "pin number or name");
}

static int check_level(lua_State *L, int arg) {
  switch (lua_type(L, arg)) {
    case LUA_TBOOLEAN: return lua_toboolean(L, arg);
    case LUA_TNUMBER: {
      int isnum;
      lua_Integer v = lua_tointegerx(L, arg, &isnum);
      if (isnum && (v == 0 || v == 1)) return (int)v;
      break;
    }
    default: break;
  }
  return luaos_argerror(L, arg, "level must be 0, 1, true or false");
}

static void check_hal(lua_State *L, int rc, int pin) {
  if (rc < 0) luaL_error(L, "gpio pin %d: %s", pin, hal_strerror(rc));
}

static int gpio_mode(lua_State *L) {
  static const char *const names[] = {"in", "out", "in_pullup", "in_pulldown", "open_drain",
                                      NULL};
  int pin = check_pin(L, 1);
  int mode = luaos_checkoption(L, 2, NULL, names);
  check_hal(L, hal_gpio_mode(pin, (hal_gpio_mode_t)mode), pin);
  return 0;
}

static int gpio_read(lua_State *L) {
  int pin = check_pin(L, 1);
  int v = hal_gpio_read(pin);
  check_hal(L, v, pin);
  lua_pushinteger(L, v);
  return 1;
}

/* The hot path: integer pin and 0/1 level go straight through; names,
 * booleans and every error take the general checks. */
static int gpio_write(lua_State *L) {
  int isnum;
  lua_Integer pin = lua_tointegerx(L, 1, &isnum);
  if (!isnum || (lua_Unsigned)pin >= (lua_Unsigned)hal_gpio_count()) pin = check_pin(L, 1);
  lua_Integer level = lua_tointegerx(L, 2, &isnum);
  if (!isnum || (level & ~(lua_Integer)1)) level = check_level(L, 2);
  int rc = hal_gpio_write((int)pin, (int)level);
  if (rc < 0) check_hal(L, rc, (int)pin);
  return 0;
}

static int gpio_toggle(lua_State *L) {
  int pin = check_pin(L, 1);
  int v = hal_gpio_read(pin);
  check_hal(L, v, pin);
  check_hal(L, hal_gpio_write(pin, !v), pin);
  lua_pushinteger(L, !v);
  return 1;
}

/* gpio.on(pin, edge, fn) registers; gpio.on(pin, nil) or gpio.off(pin) removes. */
static int set_handler(lua_State *L, int pin, int edge) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &handlers_key);
  bool had = lua_rawgeti(L, -1, pin) != LUA_TNIL;
  lua_pop(L, 1);
  check_hal(L, hal_gpio_irq(pin, (hal_gpio_edge_t)edge), pin);
  if (edge == HAL_GPIO_EDGE_NONE) {
    lua_pushnil(L);
    if (had) sched_ref(-1);
  } else {
    lua_pushvalue(L, 3);
    if (!had) sched_ref(1); /* a handler keeps the app alive */
  }
  lua_rawseti(L, -2, pin);
  lua_pop(L, 1);
  return 0;
}

static int gpio_on(lua_State *L) {
  static const char *const edges[] = {"none", "rising", "falling", "both", NULL};
  int pin = check_pin(L, 1);
  if (lua_isnoneornil(L, 2)) return set_handler(L, pin, HAL_GPIO_EDGE_NONE);
  int edge = luaos_checkoption(L, 2, NULL, edges);
  if (edge == HAL_GPIO_EDGE_NONE) return set_handler(L, pin, edge);
  if (!lua_isfunction(L, 3)) /* gpio.on(p, "rising", handler()) is the common slip */
    luaos_argerror(L, 3, lua_pushfstring(L, "function expected, got %s%s", luaL_typename(L, 3),
                                         LUAOS_FN_HINT));
  return set_handler(L, pin, edge);
}

static int gpio_off(lua_State *L) {
  return set_handler(L, check_pin(L, 1), HAL_GPIO_EDGE_NONE);
}

static int gpio_pin(lua_State *L) {
  lua_pushinteger(L, check_pin(L, 1));
  return 1;
}

static int gpio_name(lua_State *L) {
  const char *n = hal_gpio_name(check_pin(L, 1));
  if (n)
    lua_pushstring(L, n);
  else
    lua_pushnil(L);
  return 1;
}

static int gpio_count(lua_State *L) {
  lua_pushinteger(L, hal_gpio_count());
  return 1;
}

static int gpio_dropped(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)evring_dropped(gpio_irq_ring()));
  return 1;
}

/* Loop side of the ring: run the pin's handler as a new task. */
static void gpio_event(lua_State *L, const evring_event_t *ev, void *ud) {
  (void)ud;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &handlers_key);
  if (lua_rawgeti(L, -1, ev->source) == LUA_TFUNCTION) {
    lua_pushinteger(L, ev->source);
    lua_pushinteger(L, ev->level);
    lua_pushnumber(L, (lua_Number)ev->time_us / 1000.0);
    sched_spawn(L, 3);
  }
  lua_settop(L, lua_gettop(L) - 2);
}

int luaopen_gpio(lua_State *L) {
  static const luaL_Reg f[] = {{"mode", gpio_mode},     {"read", gpio_read},
                               {"write", gpio_write},   {"toggle", gpio_toggle},
                               {"on", gpio_on},         {"off", gpio_off},
                               {"pin", gpio_pin},       {"name", gpio_name},
                               {"count", gpio_count},   {"dropped", gpio_dropped},
                               {NULL, NULL}};
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &handlers_key);
  sched_add_source(gpio_irq_ring(), gpio_event, NULL);
  luaL_newlib(L, f);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
