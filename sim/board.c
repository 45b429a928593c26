#include "board.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpio_irq.h"
#include "panel.h"
#include "hal/hal_gpio.h"
#include "hal/hal_spi.h"
#include "lauxlib.h"
#include "lualib.h"
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

void board_gpio_trace_listen(bool on) { trace_listening = on; }

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
  if ((level && (e & HAL_GPIO_EDGE_RISING)) || (!level && (e & HAL_GPIO_EDGE_FALLING)))
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

static int fail(char *err, size_t errlen, const char *fmt, const char *file, const char *a,
                const char *b) {
  snprintf(err, errlen, fmt, file, a ? a : "", b ? b : "");
  return 0;
}

/* Budgets so a board file can neither hang nor exhaust the simulator. */
#define BOARD_LUA_LIMIT (1u << 20)
static void board_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  luaL_error(L, "board file takes too long (endless loop?)");
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

/* Integer field in range, or default when absent; false on a bad value. */
static bool int_field(lua_State *L, int t, const char *k, int def, int lo, int hi, int *out) {
  int ty = lua_getfield(L, t, k);
  *out = def;
  bool ok = true;
  if (ty != LUA_TNIL) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    ok = isnum && v >= lo && v <= hi;
    if (ok) *out = (int)v;
  }
  lua_pop(L, 1);
  return ok;
}

/* A pin given as number or as a name from `pins`. */
static bool pin_field(lua_State *L, int t, const char *k, int *out) {
  *out = -1;
  int ty = lua_getfield(L, t, k);
  bool ok = true;
  if (ty == LUA_TSTRING) {
    *out = find_pin_name(lua_tostring(L, -1));
    ok = *out >= 0;
  } else if (ty != LUA_TNIL) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    ok = isnum && v >= 0 && v < B.npins;
    if (ok) *out = (int)v;
  }
  lua_pop(L, 1);
  return ok;
}

static bool build(lua_State *L, const char *file, char *err, size_t errlen) {
  if (!lua_istable(L, -1))
    return fail(err, errlen, "board file %s: must return a table%s%s", file, NULL, NULL);
  int t = lua_gettop(L);
  lua_getfield(L, t, "name");
  snprintf(B.name, sizeof B.name, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "board");
  lua_pop(L, 1);
  int npins, nbuses;
  if (!int_field(L, t, "gpio", 16, 1, BOARD_MAX_PINS, &npins))
    return fail(err, errlen, "board file %s: 'gpio' must be a pin count 1..64%s%s", file, NULL,
                NULL);
  if (!int_field(L, t, "spi", 1, 0, BOARD_MAX_BUSES, &nbuses))
    return fail(err, errlen, "board file %s: 'spi' must be a bus count 0..4%s%s", file, NULL,
                NULL);
  B.npins = npins;
  B.nbuses = nbuses;
  B.pins = vhw_pins_new(npins, pin_changed, NULL);
  if (!B.pins) return fail(err, errlen, "board file %s: out of memory%s%s", file, NULL, NULL);

  /* Pin names first, so parts can refer to them. */
  if (lua_getfield(L, t, "pins") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      int isnum;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      if (lua_type(L, -2) != LUA_TSTRING || !isnum || v < 0 || v >= npins) {
        lua_pop(L, 2);
        return fail(err, errlen, "board file %s: pins: entries must be NAME = pin (0..gpio-1)%s%s",
                    file, NULL, NULL);
      }
      set_pin_name((int)v, lua_tostring(L, -2));
      lua_pop(L, 1);
    }
  } else if (!lua_isnil(L, -1)) {
    return fail(err, errlen, "board file %s: 'pins' must be a table%s%s", file, NULL, NULL);
  }
  lua_pop(L, 1);

  if (lua_getfield(L, t, "parts") != LUA_TTABLE)
    return fail(err, errlen, "board file %s: 'parts' must be a list of parts%s%s", file, NULL,
                NULL);
  int parts = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, parts);
  for (lua_Integer i = 1; i <= n; i++) {
    char where[48];
    snprintf(where, sizeof where, "parts[%d]", (int)i);
    if (lua_rawgeti(L, parts, i) != LUA_TTABLE)
      return fail(err, errlen, "board file %s: %s must be a table%s", file, where, NULL);
    int pt = lua_gettop(L);
    lua_getfield(L, pt, "type");
    const char *type = lua_tostring(L, -1);
    const vhw_model_t *m = type ? vhw_model_find(type) : NULL;
    if (!m) {
      char known[160] = "";
      for (const vhw_model_t *k = vhw_models; k->type; k++) {
        strncat(known, k->type, sizeof known - strlen(known) - 1);
        if (k[1].type) strncat(known, ", ", sizeof known - strlen(known) - 1);
      }
      snprintf(err, errlen, "board file %s: %s: unknown part type '%s' (known: %s)", file, where,
               type ? type : "(missing)", known);
      return false;
    }
    lua_pop(L, 1);
    lua_getfield(L, pt, "name");
    const char *pname = lua_tostring(L, -1);
    if (!pname || !*pname || strlen(pname) >= sizeof B.parts[0]->name)
      return fail(err, errlen, "board file %s: %s: 'name' must be a string of 1..31 chars%s", file,
                  where, NULL);
    if (board_find_part(pname))
      return fail(err, errlen, "board file %s: %s: duplicate part name '%s'", file, where, pname);
    if (B.nparts >= BOARD_MAX_PARTS)
      return fail(err, errlen, "board file %s: %s: too many parts%s", file, where, NULL);
    vhw_env_t env = {env_now, env_drive, NULL};
    vhw_part_t *p = m->create(&env);
    if (!p) return fail(err, errlen, "board file %s: %s: out of memory%s", file, where, NULL);
    snprintf(p->name, sizeof p->name, "%s", pname);
    lua_pop(L, 1);
    B.parts[B.nparts++] = p;
    if (p->ops->spi_exchange) {
      int bus, cs;
      if (!int_field(L, pt, "bus", 0, 0, nbuses - 1, &bus) || nbuses == 0)
        return fail(err, errlen, "board file %s: %s: 'bus' must be 0..spi-1%s", file, where, NULL);
      if (!int_field(L, pt, "cs", -1, 0, 255, &cs) || cs < 0)
        return fail(err, errlen, "board file %s: %s: needs 'cs' (0..255)%s", file, where, NULL);
      for (int j = 0; j < B.nparts - 1; j++)
        if (B.parts[j]->bus == bus && B.parts[j]->cs == cs)
          return fail(err, errlen, "board file %s: %s: chip select taken by '%s'", file, where,
                      B.parts[j]->name);
      p->bus = bus;
      p->cs = cs;
    }
    int pin, irq;
    if (!pin_field(L, pt, "pin", &pin))
      return fail(err, errlen, "board file %s: %s: 'pin' must be a pin number or name%s", file,
                  where, NULL);
    if (!pin_field(L, pt, "irq", &irq))
      return fail(err, errlen, "board file %s: %s: 'irq' must be a pin number or name%s", file,
                  where, NULL);
    if (!p->ops->spi_exchange && pin < 0)
      return fail(err, errlen, "board file %s: %s: needs 'pin'%s", file, where, NULL);
    p->pin = pin;
    p->irq_pin = irq;
    if (pin >= 0 && !B.pin_names[pin]) set_pin_name(pin, p->name);
    /* Numeric options the part knows (active_low, ...). */
    for (const char *const *k = p->ops->keys; k && *k; k++) {
      if (lua_getfield(L, pt, *k) == LUA_TNUMBER || lua_isboolean(L, -1)) {
        double v = lua_isboolean(L, -1) ? lua_toboolean(L, -1) : lua_tonumber(L, -1);
        if (p->ops->set(p, *k, v) != VHW_OK)
          return fail(err, errlen, "board file %s: %s: bad value for '%s'", file, where, *k);
      }
      lua_pop(L, 1);
    }
    /* Inputs with a defined idle level (pull resistors on the real
     * panel) drive it from power-on, not only after the first release. */
    if (strcmp(p->ops->type, "button") == 0) p->ops->set(p, "pressed", 0);
    if (strcmp(p->ops->type, "switch") == 0) p->ops->set(p, "on", 0);
    if (strcmp(p->ops->type, "led") == 0 && pin >= 0) {
      if (B.led[pin])
        return fail(err, errlen, "board file %s: %s: pin already watched by '%s'", file, where,
                    B.led[pin]->name);
      B.led[pin] = p;
      vhw_led_attach(p, B.pins);
    }
    if (p->ops->pin_changed && pin >= 0) {
      if (B.listener[pin])
        return fail(err, errlen, "board file %s: %s: pin already watched by '%s'", file, where,
                    B.listener[pin]->name);
      B.listener[pin] = p;
      p->ops->pin_changed(p, pin, vhw_pins_level(B.pins, pin));
    }
    lua_settop(L, parts);
  }
  return true;
}

bool board_load(lua_State *L, const char *text, size_t len, const char *filename, char *err,
                size_t errlen) {
  board_unload();
  /* The board file is data: it runs in the app's state (a second state
   * would double the start-up cost) but in an empty environment, under an
   * instruction budget and a temporary memory cap. */
  int top = lua_gettop(L);
  rt_memstats_t *m = rt_memstats(L);
  size_t saved_limit = m->limit;
  size_t cap = m->used + BOARD_LUA_LIMIT;
  if (!saved_limit || cap < saved_limit) m->limit = cap;
  lua_sethook(L, board_hook, LUA_MASKCOUNT, 1000000);
  char chunk[256];
  snprintf(chunk, sizeof chunk, "@%s", filename);
  bool ok = false;
  if (luaL_loadbufferx(L, text, len, chunk, "t") != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "board file error");
  } else {
    lua_newtable(L); /* _ENV: nothing to call, nothing to reach */
    lua_setupvalue(L, -2, 1);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK)
      snprintf(err, errlen, "%s",
               lua_tostring(L, -1) ? lua_tostring(L, -1) : "board file error");
    else
      ok = build(L, filename, err, errlen);
  }
  lua_sethook(L, NULL, 0, 0);
  lua_settop(L, top);
  m->limit = saved_limit;
  if (!ok) board_unload();
  return ok;
}

void board_unload(void) {
  sched_timer_stop(&B.poll_timer); /* before the memset below */
  for (int i = 0; i < B.nparts; i++) B.parts[i]->ops->destroy(B.parts[i]);
  for (int i = 0; i < BOARD_MAX_PINS; i++) free(B.pin_names[i]);
  if (B.pins) vhw_pins_free(B.pins);
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
  B.mcu_writing = true;
  vhw_pins_set_mode(B.pins, pin, map[mode]);
  B.mcu_writing = false;
  return HAL_OK;
}

int hal_gpio_read(int pin) {
  if (pin < 0 || pin >= B.npins) return HAL_EINVAL;
  if (vhw_pins_mode(B.pins, pin) == VHW_PIN_OUTPUT) return vhw_pins_latch(B.pins, pin);
  return vhw_pins_level(B.pins, pin);
}

static __attribute__((noinline)) int write_other_mode(int pin, int level) {
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
  return HAL_OK;
}

/* ---- HAL: SPI ---- */

int hal_spi_bus_count(void) { return B.nbuses; }

int hal_spi_configure(int bus, const hal_spi_config_t *cfg) {
  if (bus < 0 || bus >= B.nbuses) return HAL_ENODEV;
  if (cfg->mode > 3 || cfg->bits != 8 || cfg->speed_hz == 0) return HAL_EINVAL;
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
  r->len = (uint16_t)(len > 0xFFFF ? 0xFFFF : len);
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
