#include "board.h"
#include "board_panel.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ftdi_board.h"
#include "gpio_irq.h"
#include "panel.h"
#include "hal/hal_gpio.h"
#include "hal/hal_spi.h"
#include "lauxlib.h"
#include "lualib.h"
#include "luaos.h"
#include "pins.h"
#include "rt.h"
#include "sched.h"

static struct board_state {
  char name[64];
  vhw_pins_t *pins;
  int npins;
  int nbuses;
  char *pin_names[BOARD_MAX_PINS];
  uint8_t edge[BOARD_MAX_PINS];
  vhw_part_t *listener[BOARD_MAX_PINS]; /* part told of the pin's changes */
  vhw_part_t *led[BOARD_MAX_PINS];      /* LED reading the pin */
  vhw_part_t *parts[BOARD_MAX_PARTS];
  int nparts;
  hal_spi_config_t spi_cfg[BOARD_MAX_BUSES];
  bool spi_configured[BOARD_MAX_BUSES];
  size_t spi_n; /* total recorded since clear */
  size_t gpio_n;
  bool mcu_writing; /* the change being reported comes from an MCU write */
  sched_timer_t poll_timer; /* wakes parts that change by themselves */
  /* The traces are big (170 KB) and last: a reset clears the fields above
   * them and the two counters, not the records. */
  board_gpio_rec_t gpio_trace[BOARD_TRACE_MAX];
  board_spi_rec_t spi_trace[BOARD_TRACE_MAX];
} B;

/* ---- environment given to parts ---- */

static uint64_t env_now(void *ctx) {
  (void)ctx;
  return sched_now();
}

static void env_drive(void *ctx, int pin, int level) {
  (void)ctx;
  if (pin >= 0 && pin < B.npins) vhw_pins_drive(B.pins, pin, level);
}

/* Every change of a wire: a fixed ring write (the trace the tests read),
 * then a listening part if any, and edge detection. */
_Static_assert((BOARD_TRACE_MAX & (BOARD_TRACE_MAX - 1)) == 0, "the trace ring index is a mask");

/* Recording starts when someone can read the trace (the sim module is
 * loaded, or a window listens); a process setting, not reset with the
 * board. Until then a gpio.write is the wire model alone. */
static bool trace_listening;

/* LEDs time-stamp their pin's changes (their brightness) only while
 * someone can look, so a plain gpio.write to an LED pin stays the wire
 * model alone. */
static void led_listen(vhw_part_t *p) {
  if (trace_listening && p->pin >= 0 && !B.listener[p->pin]) B.listener[p->pin] = p;
}

void board_gpio_trace_listen(bool on) {
  trace_listening = on;
  for (int i = 0; i < B.nparts; i++) {
    vhw_part_t *p = B.parts[i];
    if (strcmp(p->ops->type, "led") != 0 || p->pin < 0) continue;
    if (on)
      led_listen(p);
    else if (B.listener[p->pin] == p)
      B.listener[p->pin] = NULL;
  }
}

static inline board_gpio_rec_t *trace_next(int pin, int level, bool output) {
  board_gpio_rec_t *r = &B.gpio_trace[B.gpio_n & (BOARD_TRACE_MAX - 1)];
  B.gpio_n++;
  r->pin = (uint16_t)pin;
  r->level = (uint8_t)level;
  r->output = output;
  return r;
}

/* Out of line: rare, and keeps the write path free of register saves. */
static __attribute__((noinline)) void notify_change(int pin, int level) {
  vhw_part_t *l = B.listener[pin];
  if (l) l->ops->pin_changed(l, pin, level);
  /* Edge detection happens in "hardware": post like an ISR would. */
  uint8_t e = B.edge[pin];
  if (((level && (e & HAL_GPIO_EDGE_RISING)) || (!level && (e & HAL_GPIO_EDGE_FALLING))) &&
      !ftdi_board_has_pin(pin)) /* an adapter pin's edges come from polling the adapter */
    gpio_irq_post(pin, level, sched_now());
}

static void pin_changed(void *ctx, int pin, int level) {
  (void)ctx;
  if (trace_listening) trace_next(pin, level, B.mcu_writing)->t_us = sched_now();
  if (B.listener[pin] || B.edge[pin]) notify_change(pin, level);
}

/* Parts with a clock of their own (an accelerometer's data-ready) are
 * polled at their next change, but only while someone listens to their
 * interrupt pin: otherwise reading them catches them up anyway, and an idle
 * app can end. */
static void poll_parts(lua_State *L, sched_timer_t *t);

void board_parts_changed(void) {
  uint64_t next = UINT64_MAX;
  for (int i = 0; i < B.nparts; i++) {
    vhw_part_t *p = B.parts[i];
    if (!p->ops->poll || p->irq_pin < 0 || !B.edge[p->irq_pin]) continue;
    uint64_t t = p->ops->poll(p);
    if (t < next) next = t;
  }
  sched_timer_stop(&B.poll_timer);
  if (next != UINT64_MAX) {
    B.poll_timer.fn = poll_parts;
    sched_timer_start(&B.poll_timer, next > sched_now() ? next : sched_now() + 1);
  }
}

static void poll_parts(lua_State *L, sched_timer_t *t) {
  (void)L;
  (void)t;
  board_parts_changed();
}

/* ---- board file ---- */

/* Budgets so a board file can neither hang nor exhaust the simulator: a
 * million VM instructions, and half a second of CPU time for the few
 * instructions whose cost grows with their operands (comparing or
 * concatenating long strings). */
#define BOARD_LUA_LIMIT (1u << 20)
#define BOARD_HOOK_EVERY 1000
#define BOARD_MAX_HOOKS 1000 /* x BOARD_HOOK_EVERY instructions */
#define BOARD_MAX_CPU (CLOCKS_PER_SEC / 2)

/* The evaluation in progress (for the hook and the messages). */
static struct {
  const char *file;
  const char *text;
  size_t len;
  clock_t start;
  unsigned hooks;
} E;

static void board_hook(lua_State *L, lua_Debug *ar) {
  if (++E.hooks >= BOARD_MAX_HOOKS || clock() - E.start > BOARD_MAX_CPU) {
    lua_getinfo(L, "l", ar);
    lua_pushfstring(L, "board file %s: takes too long at line %d (endless loop?)", E.file,
                    ar->currentline);
    lua_error(L);
  }
}

/* Push "board file FILE: <message>". */
static void push_fail(lua_State *L, const char *fmt, va_list ap) {
  lua_pushfstring(L, "board file %s: ", E.file);
  lua_pushvfstring(L, fmt, ap);
  lua_concat(L, 2);
}

/* Raise "board file FILE: <message>" (build runs protected). */
_Noreturn static void bfail(lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_fail(L, fmt, ap);
  va_end(ap);
  lua_error(L);
  abort(); /* not reached: lua_error does not return */
}

/* Same, with "; did you mean 'y'?" (or the valid words) after it. */
_Noreturn static void bfail_hint(lua_State *L, const char *word, const char *const *cands,
                                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_fail(L, fmt, ap);
  va_end(ap);
  luaos_push_hint(L, word, cands);
  lua_error(L);
  abort(); /* not reached */
}

/* A value as messages quote it: 99, true, the string '16', a table. */
static const char *describe(lua_State *L, int idx) {
  char buf[64];
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      if (isnan(lua_tonumber(L, idx)))
        snprintf(buf, sizeof buf, "nan");
      else if (lua_isinteger(L, idx))
        snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
      else
        snprintf(buf, sizeof buf, "%.14g", lua_tonumber(L, idx));
      return lua_pushstring(L, buf);
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TSTRING: {
      size_t n;
      const char *str = lua_tolstring(L, idx, &n);
      snprintf(buf, sizeof buf, "the string '%.40s%s'", str, n > 40 ? "..." : "");
      return lua_pushstring(L, buf);
    }
    default: return lua_pushfstring(L, "a %s", luaL_typename(L, idx));
  }
}

static void set_pin_name(int pin, const char *name) {
  free(B.pin_names[pin]);
  size_t n = strlen(name);
  B.pin_names[pin] = malloc(n + 1);
  if (B.pin_names[pin]) memcpy(B.pin_names[pin], name, n + 1);
}

static int find_pin_name(const char *name) {
  for (int i = 0; i < B.npins; i++)
    if (B.pin_names[i] && strcmp(B.pin_names[i], name) == 0) return i;
  return -1;
}

/* Every string key of table `t` (at `where`, "" for the top level) must be
 * one of `keys`; anything else is a typo or a misunderstanding. */
static void check_keys(lua_State *L, int t, const char *where, const char *const *keys) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      const char *k = describe(L, -1);
      bfail(L, "%s%sunexpected entry [%s] (fields are named: key = value)", where,
            *where ? ": " : "", k);
    }
    const char *k = lua_tostring(L, -1);
    bool ok = false;
    for (const char *const *c = keys; *c && !ok; c++) ok = strcmp(*c, k) == 0;
    if (!ok) bfail_hint(L, k, keys, "unknown key '%s%s%s'", where, *where ? "." : "", k);
  }
}

/* Integer field in range (a number, not a numeric string), or `def` when
 * absent. `what` is the message: "'gpio' must be a pin count 1..64". */
static int int_field(lua_State *L, int t, const char *where, const char *k, int def, int lo,
                     int hi, const char *what) {
  int v = def;
  if (lua_getfield(L, t, k) != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < lo || lua_tointeger(L, -1) > hi)
      bfail(L, "%s%s%s (got %s)", where, *where ? ": " : "", what, describe(L, -1));
    v = (int)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* A pin given as number or as a name from `pins`; -1 when absent. */
static int pin_field(lua_State *L, int t, const char *where, const char *k) {
  int pin = -1;
  int ty = lua_getfield(L, t, k);
  if (ty == LUA_TSTRING) {
    const char *name = lua_tostring(L, -1);
    pin = find_pin_name(name);
    if (pin < 0) {
      const char *names[BOARD_MAX_PINS + 1];
      int n = 0;
      for (int i = 0; i < B.npins; i++)
        if (B.pin_names[i]) names[n++] = B.pin_names[i];
      names[n] = NULL;
      if (n == 0)
        bfail(L, "%s: '%s' must be a pin number or name: no pin named '%s' (no pins are named)",
              where, k, name);
      bfail_hint(L, name, names, "%s: '%s' must be a pin number or name: no pin named '%s'",
                 where, k, name);
    }
  } else if (ty != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) >= B.npins)
      bfail(L, "%s: '%s' must be a pin number 0..%d or name (got %s)", where, k, B.npins - 1,
            describe(L, -1));
    pin = (int)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return pin;
}

static const char *const board_keys[] = {"name", "gpio", "spi", "pins", "parts", NULL};

static void build_pins(lua_State *L, int t) {
  if (lua_getfield(L, t, "pins") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1)) bfail(L, "'pins' must be a table (got %s)", describe(L, -1));
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      bfail(L, "pins: entries must be NAME = pin (got a %s key)", luaL_typename(L, -2));
    const char *name = lua_tostring(L, -2);
    size_t n = strlen(name);
    if (n == 0 || n > 31)
      bfail(L, "pins: names must have 1..31 characters ('%s')", name);
    if (lua_istable(L, -1)) { /* NAME = {ftdi = URL, pin = "ADBUS4"}: sim/ftdi_board.c */
      ftdi_board_pin_entry(L, -1, name, E.file);
      lua_pop(L, 1);
      continue;
    }
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) >= B.npins)
      bfail(L, "pins: entries must be NAME = pin (0..gpio-1): %s = %s", name, describe(L, -1));
    int pin = (int)lua_tointeger(L, -1);
    /* One name per pin: with two, which one wins would depend on the
     * table's iteration order. */
    if (B.pin_names[pin])
      bfail(L, "pins: '%s' and '%s' both name pin %d", B.pin_names[pin], name, pin);
    set_pin_name(pin, name);
    if (!B.pin_names[pin]) bfail(L, "out of memory");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  /* Adapter pins take the lowest free numbers, in name order; their wires
   * float high (the FTDI chips' input pull-ups). */
  const char *hname;
  for (int k; (k = ftdi_board_unnumbered(&hname)) >= 0;) {
    int pin = 0;
    while (pin < B.npins && B.pin_names[pin]) pin++;
    if (pin == B.npins) bfail(L, "pins: no pin number left for '%s' (raise 'gpio')", hname);
    set_pin_name(pin, hname);
    if (!B.pin_names[pin]) bfail(L, "out of memory");
    ftdi_board_set_number(k, pin);
    vhw_pins_set_mode(B.pins, pin, VHW_PIN_PULLUP);
  }
}

static void build_part(lua_State *L, int pt, const char *where) {
  lua_getfield(L, pt, "type");
  const char *types[24];
  int nt = 0;
  for (const vhw_model_t *k = vhw_models; k->type && nt < 23; k++) types[nt++] = k->type;
  types[nt] = NULL;
  if (lua_type(L, -1) != LUA_TSTRING)
    bfail_hint(L, "", types, "%s: 'type' must be a part type (got %s)", where,
               lua_isnil(L, -1) ? "nothing" : describe(L, -1));
  const char *type = lua_tostring(L, -1);
  const vhw_model_t *m = vhw_model_find(type);
  if (!m) bfail_hint(L, type, types, "%s: unknown part type '%s'", where, type);
  lua_pop(L, 1);

  /* The keys this part understands: where it is wired, then its options. */
  const char *keys[40];
  int nk = 0;
  keys[nk++] = "type";
  keys[nk++] = "name";
  keys[nk++] = "panel"; /* the window's position, colour, key (sim/board_panel.c) */
  lua_getfield(L, pt, "name");
  if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
      lua_rawlen(L, -1) >= sizeof B.parts[0]->name)
    bfail(L, "%s: 'name' must be a string of 1..31 chars (got %s)", where,
          lua_isnil(L, -1) ? "nothing" : describe(L, -1));
  const char *pname = lua_tostring(L, -1);
  if (board_find_part(pname)) bfail(L, "%s: duplicate part name '%s'", where, pname);
  if (B.nparts >= BOARD_MAX_PARTS) bfail(L, "%s: too many parts (at most %d)", where,
                                         BOARD_MAX_PARTS);
  vhw_env_t env = {env_now, env_drive, NULL};
  vhw_part_t *p = m->create(&env);
  if (!p) bfail(L, "%s: out of memory", where);
  B.parts[B.nparts++] = p; /* owned by the board from here: freed on failure too */
  snprintf(p->name, sizeof p->name, "%s", pname);
  lua_pop(L, 1);
  const vhw_ops_t *ops = p->ops;
  if (ops->spi_exchange) {
    keys[nk++] = "bus";
    keys[nk++] = "cs";
    keys[nk++] = "irq";
    if (ops->pin_changed) { /* a display's data/command and reset inputs */
      keys[nk++] = "dc";
      keys[nk++] = "reset";
    }
  } else {
    keys[nk++] = "pin";
  }
  for (const char *const *k = ops->keys; k && *k && nk < 39; k++) keys[nk++] = *k;
  keys[nk] = NULL;
  check_keys(L, pt, where, keys);
  char perr[200];
  if (!board_panel_parse(L, pt, B.nparts - 1, perr, sizeof perr)) bfail(L, "%s: %s", where, perr);

  if (ops->spi_exchange) {
    if (B.nbuses == 0) bfail(L, "%s: an SPI part needs a board with 'spi' >= 1", where);
    int bus = int_field(L, pt, where, "bus", 0, 0, B.nbuses - 1, "'bus' must be 0..spi-1");
    if (lua_getfield(L, pt, "cs") == LUA_TNIL) bfail(L, "%s: needs 'cs' (0..255)", where);
    lua_pop(L, 1);
    int cs = int_field(L, pt, where, "cs", -1, 0, 255, "needs 'cs' (0..255)");
    for (int j = 0; j < B.nparts - 1; j++)
      if (B.parts[j]->bus == bus && B.parts[j]->cs == cs)
        bfail(L, "%s: chip select taken by '%s'", where, B.parts[j]->name);
    p->bus = bus;
    p->cs = cs;
    p->irq_pin = pin_field(L, pt, where, "irq");
    if (ops->pin_changed) {
      p->dc_pin = pin_field(L, pt, where, "dc");
      p->reset_pin = pin_field(L, pt, where, "reset");
      if (p->dc_pin >= 0 && p->dc_pin == p->reset_pin)
        bfail(L, "%s: 'dc' and 'reset' must be different pins", where);
      /* Display modules pull their reset line up: the chip runs until
       * the MCU drives the pin low. */
      if (p->reset_pin >= 0) vhw_pins_set_mode(B.pins, p->reset_pin, VHW_PIN_PULLUP);
    }
  } else {
    int pin = pin_field(L, pt, where, "pin");
    if (pin < 0) bfail(L, "%s: needs 'pin'", where);
    p->pin = pin;
    /* The part's name names its pin, unless the pin has a name or the
     * name is taken by another pin (a lookup by name must be unambiguous). */
    if (!B.pin_names[pin] && find_pin_name(p->name) < 0) set_pin_name(pin, p->name);
  }
  /* Initial values of the part's settable keys (active_low, ...). */
  for (const char *const *k = ops->keys; k && *k; k++) {
    int ty = lua_getfield(L, pt, *k);
    if (ty != LUA_TNIL) {
      double v = 0;
      if (ty == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
      else if (ty == LUA_TNUMBER && isfinite(lua_tonumber(L, -1))) v = lua_tonumber(L, -1);
      else
        bfail(L, "%s: '%s' must be a number or boolean (got %s)", where, *k, describe(L, -1));
      int rc = ops->set ? ops->set(p, *k, v) : VHW_EKEY;
      if (rc == VHW_EKEY) bfail(L, "%s: '%s' is read-only", where, *k);
      if (rc != VHW_OK) bfail(L, "%s: bad value for '%s' (got %s)", where, *k, describe(L, -1));
    }
    lua_pop(L, 1);
  }
  /* Inputs with a defined idle level (pull resistors on the real
   * panel) drive it from power-on, not only after the first release. */
  if (strcmp(ops->type, "button") == 0) ops->set(p, "pressed", 0);
  if (strcmp(ops->type, "switch") == 0) ops->set(p, "on", 0);
  if (strcmp(ops->type, "led") == 0 && p->pin >= 0) {
    if (B.led[p->pin]) bfail(L, "%s: pin already watched by '%s'", where, B.led[p->pin]->name);
    B.led[p->pin] = p;
    vhw_led_attach(p, B.pins);
  }
  if (strcmp(ops->type, "led") == 0) {
    led_listen(p);
  } else if (ops->pin_changed) {
    int watched[3] = {p->pin, p->dc_pin, p->reset_pin};
    for (int i = 0; i < 3; i++) {
      int pin = watched[i];
      if (pin < 0) continue;
      if (B.listener[pin] && strcmp(B.listener[pin]->ops->type, "led") != 0)
        bfail(L, "%s: pin already watched by '%s'", where, B.listener[pin]->name);
      B.listener[pin] = p;
      ops->pin_changed(p, pin, vhw_pins_level(B.pins, pin));
    }
  }
}

/* The table the board file returned, at index t. */
static void build(lua_State *L, int t) {
  if (!lua_istable(L, t)) bfail(L, "must return a table (got %s)", describe(L, t));
  check_keys(L, t, "", board_keys);
  lua_getfield(L, t, "name");
  if (!lua_isnil(L, -1) && (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
                            lua_rawlen(L, -1) >= sizeof B.name))
    bfail(L, "'name' must be a string of 1..63 chars (got %s)", describe(L, -1));
  snprintf(B.name, sizeof B.name, "%s", lua_isnil(L, -1) ? "board" : lua_tostring(L, -1));
  lua_pop(L, 1);
  int npins = int_field(L, t, "", "gpio", 16, 1, BOARD_MAX_PINS, "'gpio' must be a pin count 1..64");
  int nbuses;
  if (lua_getfield(L, t, "spi") == LUA_TTABLE) /* buses on FTDI adapters: sim/ftdi_board.c */
    nbuses = ftdi_board_spi(L, lua_gettop(L), E.file);
  else
    nbuses = int_field(L, t, "", "spi", 1, 0, BOARD_MAX_BUSES, "'spi' must be a bus count 0..4");
  lua_pop(L, 1);
  B.npins = npins;
  B.nbuses = nbuses;
  B.pins = vhw_pins_new(npins, pin_changed, NULL);
  if (!B.pins) bfail(L, "out of memory");

  build_pins(L, t); /* first, so parts can refer to the names */

  if (lua_getfield(L, t, "parts") != LUA_TTABLE)
    bfail(L, "'parts' must be a list of parts (got %s)",
          lua_isnil(L, -1) ? "nothing" : describe(L, -1));
  int parts = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, parts);
  /* A list: keys 1..n and nothing else (a named entry or a hole would
   * otherwise drop parts silently). */
  lua_pushnil(L);
  while (lua_next(L, parts)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
      const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : describe(L, -1);
      bfail(L, "'parts' must be a list { {type = ...}, ... }: unexpected key '%s'", k);
    }
  }
  for (lua_Integer i = 1; i <= n; i++) {
    char where[48];
    snprintf(where, sizeof where, "parts[%d]", (int)i);
    if (lua_rawgeti(L, parts, i) != LUA_TTABLE)
      bfail(L, "%s must be a table (got %s)", where,
            lua_isnil(L, -1) ? "nothing" : describe(L, -1));
    build_part(L, lua_gettop(L), where);
    lua_settop(L, parts);
  }
  ftdi_board_finish(L, E.file);
}

/* Run protected: load, evaluate (under the hook) and check the board. */
static int board_protected(lua_State *L) {
  luaL_checkstack(L, 16, NULL);
  char chunk[256];
  snprintf(chunk, sizeof chunk, "@%s", E.file);
  if (luaL_loadbufferx(L, E.text, E.len, chunk, "t") != LUA_OK) return lua_error(L);
  lua_newtable(L); /* _ENV: nothing to call, nothing to reach */
  lua_setupvalue(L, -2, 1);
  lua_call(L, 0, 1);
  build(L, lua_gettop(L));
  return 0;
}

static int push_empty(lua_State *L) {
  lua_pushliteral(L, "");
  return 1;
}

/* One value of each basic type: their metatables are shared by all values
 * of the type (the string library's is how ("x"):rep reaches C). */
#define BOARD_NTYPES 7
static void push_sample(lua_State *L, int i, int str) {
  switch (i) {
    case 0: lua_pushnil(L); break;
    case 1: lua_pushboolean(L, 0); break;
    case 2: lua_pushlightuserdata(L, NULL); break;
    case 3: lua_pushinteger(L, 0); break;
    case 4: lua_pushvalue(L, str); break;
    case 5: lua_pushcfunction(L, push_empty); break;
    default: lua_pushthread(L); break;
  }
}

bool board_load(lua_State *L, const char *text, size_t len, const char *filename, char *err,
                size_t errlen) {
  board_unload();
  /* The board file is data: it runs in the app's state (a second state
   * would double the start-up cost) but in an empty environment, with no
   * metatables on strings, numbers or any other basic type (so not a
   * single function is in reach: no string methods, whose C loops no
   * budget stops), without the collector (no finalizer of the app runs in
   * this environment), under an instruction and CPU budget and a temporary
   * memory cap. Everything is restored afterwards, error or not. */
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 2 * BOARD_NTYPES + 8)) {
    snprintf(err, errlen, "board file %s: out of memory", filename);
    return false;
  }
  lua_pushcfunction(L, push_empty);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    snprintf(err, errlen, "board file %s: out of memory", filename);
    lua_settop(L, top);
    return false;
  }
  int str = lua_gettop(L);
  for (int i = 0; i < BOARD_NTYPES; i++) {
    push_sample(L, i, str);
    if (!lua_getmetatable(L, -1)) lua_pushnil(L);
    lua_remove(L, -2); /* keep the metatable (or nil) at str + 1 + i */
    push_sample(L, i, str);
    lua_pushnil(L);
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
  }
  bool gc_was_running = lua_gc(L, LUA_GCISRUNNING);
  lua_gc(L, LUA_GCSTOP);
  lua_Hook saved_hook = lua_gethook(L);
  int saved_mask = lua_gethookmask(L), saved_count = lua_gethookcount(L);
  rt_memstats_t *m = rt_memstats(L);
  size_t saved_limit = m->limit;
  size_t base = m->used, cap = base + BOARD_LUA_LIMIT;
  if (!saved_limit || cap < saved_limit) m->limit = cap;
  E.file = filename;
  E.text = text;
  E.len = len;
  E.start = clock();
  E.hooks = 0;
  lua_sethook(L, board_hook, LUA_MASKCOUNT, BOARD_HOOK_EVERY);

  lua_pushcfunction(L, board_protected);
  int rc = lua_pcall(L, 0, 0, 0);
  bool ok = rc == LUA_OK;
  if (rc == LUA_ERRMEM && m->limit < cap)
    snprintf(err, errlen, "board file %s: not enough memory (the heap cap leaves it %zu KiB)",
             filename, (m->limit > base ? m->limit - base : 0) / 1024);
  else if (rc == LUA_ERRMEM)
    snprintf(err, errlen, "board file %s: not enough memory (a board file gets at most %u KiB)",
             filename, BOARD_LUA_LIMIT / 1024);
  else if (!ok)
    snprintf(err, errlen, "%s",
             lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "board file error");

  lua_sethook(L, saved_hook, saved_mask, saved_count);
  m->limit = saved_limit;
  for (int i = 0; i < BOARD_NTYPES; i++) {
    push_sample(L, i, str);
    lua_pushvalue(L, str + 1 + i);
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
  }
  if (gc_was_running) lua_gc(L, LUA_GCRESTART);
  lua_settop(L, top);
  E.file = E.text = NULL;
  if (!ok) board_unload();
  return ok;
}

void board_unload(void) {
  sched_timer_stop(&B.poll_timer); /* before the memset below */
  ftdi_board_unload();              /* adapters' pins safe, closed */
  for (int i = 0; i < B.nparts; i++) B.parts[i]->ops->destroy(B.parts[i]);
  for (int i = 0; i < BOARD_MAX_PINS; i++) free(B.pin_names[i]);
  if (B.pins) vhw_pins_free(B.pins);
  board_panel_clear();
  memset(&B, 0, offsetof(struct board_state, gpio_trace)); /* not the trace records */
}

const char *board_name(void) { return B.name; }
int board_part_count(void) { return B.nparts; }
vhw_part_t *board_part(int i) { return (i >= 0 && i < B.nparts) ? B.parts[i] : NULL; }

vhw_part_t *board_find_part(const char *name) {
  for (int i = 0; i < B.nparts; i++)
    if (strcmp(B.parts[i]->name, name) == 0) return B.parts[i];
  return NULL;
}

int board_pin_level(int pin) {
  return (pin >= 0 && pin < B.npins) ? vhw_pins_level(B.pins, pin) : -1;
}

void board_pin_drive(int pin, int level) {
  if (pin >= 0 && pin < B.npins) vhw_pins_drive(B.pins, pin, level);
}

size_t board_spi_trace(const board_spi_rec_t **recs, size_t *first) {
  *recs = B.spi_trace;
  *first = B.spi_n > BOARD_TRACE_MAX ? B.spi_n - BOARD_TRACE_MAX : 0;
  return B.spi_n;
}

void board_spi_trace_clear(void) { B.spi_n = 0; }

size_t board_gpio_trace(const board_gpio_rec_t **recs, size_t *first) {
  *recs = B.gpio_trace;
  *first = B.gpio_n > BOARD_TRACE_MAX ? B.gpio_n - BOARD_TRACE_MAX : 0;
  return B.gpio_n;
}

void board_gpio_trace_clear(void) { B.gpio_n = 0; }

/* ---- HAL: GPIO ---- */

int hal_gpio_count(void) { return B.npins; }

int hal_gpio_find(const char *name) {
  int p = find_pin_name(name);
  return p >= 0 ? p : HAL_ENODEV;
}

const char *hal_gpio_name(int pin) {
  return (pin >= 0 && pin < B.npins) ? B.pin_names[pin] : NULL;
}

int hal_gpio_mode(int pin, hal_gpio_mode_t mode) {
  if (pin < 0 || pin >= B.npins) return HAL_EINVAL;
  static const vhw_pin_mode_t map[] = {VHW_PIN_INPUT, VHW_PIN_OUTPUT, VHW_PIN_PULLUP,
                                       VHW_PIN_PULLDOWN, VHW_PIN_OPEN_DRAIN};
  if ((unsigned)mode > HAL_GPIO_OPEN_DRAIN) return HAL_EINVAL;
  if (ftdi_board_has_pin(pin)) return ftdi_board_gpio_mode(pin, mode);
  B.mcu_writing = true;
  vhw_pins_set_mode(B.pins, pin, map[mode]);
  B.mcu_writing = false;
  return HAL_OK;
}

int hal_gpio_read(int pin) {
  if (pin < 0 || pin >= B.npins) return HAL_EINVAL;
  if (ftdi_board_has_pin(pin)) return ftdi_board_gpio_read(pin);
  if (vhw_pins_mode(B.pins, pin) == VHW_PIN_OUTPUT) return vhw_pins_latch(B.pins, pin);
  return vhw_pins_level(B.pins, pin);
}

static __attribute__((noinline)) int write_other_mode(int pin, int level) {
  /* Adapter pins' wires are never push-pull here: they land in this path. */
  if (ftdi_board_has_pin(pin)) return ftdi_board_gpio_write(pin, level);
  B.mcu_writing = true;
  vhw_pins_write(B.pins, pin, level);
  B.mcu_writing = false;
  return HAL_OK;
}

static __attribute__((noinline)) int write_changed(int pin, int level) {
  if (B.listener[pin] || B.edge[pin]) notify_change(pin, level);
  if (trace_listening) trace_next(pin, level, true)->t_us = sched_now();
  return HAL_OK;
}

/* On the path of every gpio.write: push-pull outputs inline, and the
 * rest as tail calls, so the common case saves no registers. */
int hal_gpio_write(int pin, int level) {
  if ((unsigned)pin >= (unsigned)B.npins) return HAL_EINVAL;
  int r = vhw_pins_write_pp(B.pins, pin, level);
  if (r > 0 && (trace_listening || B.listener[pin] || B.edge[pin]))
    return write_changed(pin, level != 0);
  if (r < 0) return write_other_mode(pin, level);
  return HAL_OK;
}

int hal_gpio_irq(int pin, hal_gpio_edge_t edge) {
  if (pin < 0 || pin >= B.npins || (unsigned)edge > HAL_GPIO_EDGE_BOTH) return HAL_EINVAL;
  B.edge[pin] = (uint8_t)edge;
  board_parts_changed();
  if (ftdi_board_has_pin(pin)) {
    int rc = ftdi_board_gpio_irq(pin, edge);
    if (rc < 0) { /* the adapter is not there: nothing listens */
      B.edge[pin] = 0;
      board_parts_changed();
    }
    return rc;
  }
  return HAL_OK;
}

/* ---- HAL: SPI ---- */

int hal_spi_bus_count(void) { return B.nbuses; }

int hal_spi_configure(int bus, const hal_spi_config_t *cfg) {
  if (bus < 0 || bus >= B.nbuses) return HAL_ENODEV;
  if (cfg->mode > 3 || cfg->bits != 8 || cfg->speed_hz == 0) return HAL_EINVAL;
  if (ftdi_board_has_bus(bus)) {
    int rc = ftdi_board_spi_configure(bus, cfg);
    if (rc != HAL_OK) return rc;
  }
  B.spi_cfg[bus] = *cfg;
  B.spi_configured[bus] = true;
  return HAL_OK;
}

static vhw_part_t *spi_device(int bus, int cs) {
  for (int i = 0; i < B.nparts; i++)
    if (B.parts[i]->bus == bus && B.parts[i]->cs == cs && B.parts[i]->ops->spi_exchange)
      return B.parts[i];
  return NULL;
}

static uint8_t bitrev(uint8_t b) {
  b = (uint8_t)((b & 0xF0) >> 4 | (b & 0x0F) << 4);
  b = (uint8_t)((b & 0xCC) >> 2 | (b & 0x33) << 2);
  return (uint8_t)((b & 0xAA) >> 1 | (b & 0x55) << 1);
}

int hal_spi_transfer(int bus, const uint8_t *tx, uint8_t *rx, size_t len) {
  if (bus < 0 || bus >= B.nbuses) return HAL_ENODEV;
  if (!B.spi_configured[bus]) return HAL_EINVAL;
  const hal_spi_config_t *cfg = &B.spi_cfg[bus];
  vhw_part_t *dev = spi_device(bus, cfg->cs);
  board_spi_rec_t *r = &B.spi_trace[B.spi_n % BOARD_TRACE_MAX];
  B.spi_n++;
  r->t_us = sched_now();
  r->bus = (uint8_t)bus;
  r->cs = cfg->cs;
  r->len = len;
  if (ftdi_board_has_bus(bus)) return ftdi_board_spi_transfer(bus, cfg, tx, rx, len, r);
  /* A device clocked in a mode it does not support, or too fast, sees
   * shifted bits: the driver gets garbage, as it would on a real bus. */
  bool garbled = dev && (!(dev->spi_modes & (1u << cfg->mode)) ||
                         (dev->spi_max_hz && cfg->speed_hz > dev->spi_max_hz));
  r->fault = !dev ? 1 : garbled ? 2 : 0;
  if (dev) dev->ops->spi_select(dev, true);
  for (size_t i = 0; i < len; i++) {
    uint8_t out = tx ? tx[i] : 0xFF;
    if (cfg->lsb_first) out = bitrev(out);
    uint8_t in;
    if (!dev) {
      in = 0xFF; /* nobody drives MISO: pulled up */
    } else if (garbled) {
      in = (uint8_t)(dev->ops->spi_exchange(dev, (uint8_t)(out << 1 | 1)) >> 1 | 0x80);
    } else {
      in = dev->ops->spi_exchange(dev, out);
    }
    if (cfg->lsb_first) in = bitrev(in);
    if (i < BOARD_TRACE_BYTES) {
      r->tx[i] = tx ? tx[i] : 0xFF;
      r->rx[i] = in;
    }
    if (rx) rx[i] = in;
  }
  if (dev) {
    dev->ops->spi_select(dev, false);
    if (dev->ops->poll && dev->irq_pin >= 0 && B.edge[dev->irq_pin]) board_parts_changed();
  }
  return HAL_OK;
}
