#include "ftdi_board.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpio_irq.h"
#include "hal/hal.h"
#include "lauxlib.h"
#include "luaos.h"
#include "sched.h"

#define MAX_CS 16

typedef struct {
  ftdi_dev_t dev;
  int wire[MPSSE_PINS]; /* board pin on an adapter pin (emulator wiring), -1 */
  uint16_t used;        /* adapter pins taken (SPI, chip selects, GPIO) */
  bool spi;             /* carries an SPI bus: ADBUS0-2 are SK, DO, DI */
  uint64_t poll_after;  /* a failed poll waits: an absent adapter is costly to look for */
} adapter_t;

typedef struct {
  char name[32];
  int ad, apin, num;
  uint8_t edge;
  hal_gpio_mode_t mode;
  int latch;
  int last; /* level at the last poll, -1 unknown */
} hpin_t;

static struct {
  adapter_t ad[FTDI_MAX_ADAPTERS];
  int nad;
  int bus_ad[BOARD_MAX_BUSES];          /* adapter index, -1: virtual bus */
  int8_t cs_pin[BOARD_MAX_BUSES][MAX_CS]; /* adapter pin of each chip select */
  hpin_t pin[BOARD_MAX_PINS];
  int npins;
  int8_t by_num[BOARD_MAX_PINS]; /* index in pin[] + 1, 0: not ours */
  sched_timer_t poll;
  bool polling;
  const char *file;
} H;

static const char *const pin_names[MPSSE_PINS] = {
    "ADBUS0", "ADBUS1", "ADBUS2", "ADBUS3", "ADBUS4", "ADBUS5", "ADBUS6", "ADBUS7",
    "ACBUS0", "ACBUS1", "ACBUS2", "ACBUS3", "ACBUS4", "ACBUS5", "ACBUS6", "ACBUS7"};

const char *ftdi_pin_name(int apin) {
  return apin >= 0 && apin < MPSSE_PINS ? pin_names[apin] : "?";
}

/* "ADBUS4" (or BDBUS4 on interface B, as FTDI names it), or -1. */
static int pin_find(const char *s, int iface) {
  if (strlen(s) != 6) return -1;
  char l = (char)(s[0] & ~0x20);
  if (l != 'A' + iface - 1 && l != 'A') return -1;
  char k = (char)(s[1] & ~0x20);
  if ((k != 'D' && k != 'C') || strncasecmp(s + 2, "BUS", 3) != 0 || s[5] < '0' || s[5] > '7')
    return -1;
  return (k == 'D' ? 0 : 8) + s[5] - '0';
}

_Noreturn static void hfail(lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushfstring(L, "board file %s: ", H.file);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  lua_error(L);
  abort();
}

static void check_keys(lua_State *L, int t, const char *where, const char *const *keys) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      hfail(L, "%s: unexpected entry (fields are named: key = value)", where);
    const char *k = lua_tostring(L, -1);
    bool ok = false;
    for (const char *const *c = keys; *c && !ok; c++) ok = strcmp(*c, k) == 0;
    if (!ok) {
      lua_pushfstring(L, "board file %s: %s: unknown key '%s'", H.file, where, k);
      luaos_push_hint(L, k, keys);
      lua_error(L);
    }
  }
}

/* ---- emulator wiring: adapter pins to the board's wires ---- */

static int wire_level(void *ctx, int apin) {
  adapter_t *a = ctx;
  int w = a->wire[apin];
  return w < 0 ? -1 : board_pin_level(w);
}

static void wire_drive(void *ctx, int apin, int level) {
  adapter_t *a = ctx;
  if (a->wire[apin] >= 0) board_pin_drive(a->wire[apin], level);
}

/* A process that ends without unloading the board (os.exit, Busted's exit
 * on a failure) still leaves the adapters' pins as inputs. */
static void close_at_exit(void) {
  for (int i = 0; i < H.nad; i++) ftdi_dev_close(&H.ad[i].dev);
}

/* The adapter for a URL (at index v), created on first mention. */
static int adapter_for(lua_State *L, int v, const char *where) {
  if (lua_type(L, v) != LUA_TSTRING)
    hfail(L, "%s: 'ftdi' must be an adapter URL such as \"ftdi://0403:6014/1\" or "
             "\"emu://ft232h\" (got %s)", where, luaL_typename(L, v));
  const char *url = lua_tostring(L, v);
  for (int i = 0; i < H.nad; i++)
    if (strcmp(H.ad[i].dev.url, url) == 0) return i;
  ftdi_url_t u;
  char err[300];
  if (!ftdi_url_parse(url, &u, err, sizeof err)) hfail(L, "%s: %s", where, err);
  if (H.nad >= FTDI_MAX_ADAPTERS) hfail(L, "%s: at most %d adapters", where, FTDI_MAX_ADAPTERS);
  static bool exit_hook;
  if (!exit_hook) exit_hook = atexit(close_at_exit) == 0;
  adapter_t *a = &H.ad[H.nad];
  memset(a, 0, sizeof *a);
  for (int i = 0; i < MPSSE_PINS; i++) a->wire[i] = -1;
  snprintf(a->dev.url, sizeof a->dev.url, "%s", url);
  a->dev.u = u;
  a->dev.info = mpsse_chip_info(u.emu ? u.chip : MPSSE_FT232H);
  if (!u.emu && u.pid == 0x6010) a->dev.info = mpsse_chip_info(MPSSE_FT2232H);
  if (!u.emu && u.pid == 0x6011) a->dev.info = mpsse_chip_info(MPSSE_FT4232H);
  if (u.emu) {
    mpsse_wiring_t w = {wire_level, wire_drive, a};
    a->dev.emu = ftdi_emu_new(&u, &w);
    if (!a->dev.emu) hfail(L, "%s: out of memory", where);
  }
  return H.nad++;
}

int ftdi_board_spi(lua_State *L, int t, const char *file) {
  H.file = file;
  int nbuses = 0;
  for (int b = 0; b < BOARD_MAX_BUSES; b++) H.bus_ad[b] = -1;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 0 ||
        lua_tointeger(L, -2) >= BOARD_MAX_BUSES)
      hfail(L, "spi: keys are bus numbers 0..%d, as in spi = {[0] = {ftdi = \"emu://ft232h\"}} "
               "(got a %s key)", BOARD_MAX_BUSES - 1, luaL_typename(L, -2));
    int bus = (int)lua_tointeger(L, -2);
    char where[16];
    snprintf(where, sizeof where, "spi[%d]", bus);
    if (!lua_istable(L, -1))
      hfail(L, "%s must be a table: {ftdi = URL} for an adapter, {} for a virtual bus (got %s)",
            where, luaL_typename(L, -1));
    int e = lua_gettop(L);
    static const char *const keys[] = {"ftdi", "cs", NULL};
    check_keys(L, e, where, keys);
    if (bus + 1 > nbuses) nbuses = bus + 1;
    if (lua_getfield(L, e, "ftdi") != LUA_TNIL) {
      int a = adapter_for(L, -1, where);
      for (int b = 0; b < BOARD_MAX_BUSES; b++)
        if (H.bus_ad[b] == a)
          hfail(L, "%s: adapter %s already carries spi[%d] (one SPI bus per MPSSE interface)",
                where, H.ad[a].dev.url, b);
      H.bus_ad[bus] = a;
      H.ad[a].spi = true;
      H.ad[a].used |= 0x7; /* SK, DO, DI */
      /* Default chip selects: cs 0..4 on ADBUS3..7, 5..12 on ACBUS0..7. */
      int high = H.ad[a].dev.info->high_pins;
      for (int c = 0; c < MAX_CS; c++) H.cs_pin[bus][c] = (int8_t)(c < 5 ? 3 + c : c < 5 + high ? 8 + c - 5 : -1);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, e, "cs") != LUA_TNIL) {
      if (H.bus_ad[bus] < 0) hfail(L, "%s: 'cs' needs 'ftdi' (pins of which adapter?)", where);
      if (!lua_istable(L, -1))
        hfail(L, "%s: 'cs' must be a table {[0] = \"ADBUS3\", ...} (got %s)", where,
              luaL_typename(L, -1));
      int ct = lua_gettop(L);
      for (int c = 0; c < MAX_CS; c++) H.cs_pin[bus][c] = -1;
      lua_pushnil(L);
      while (lua_next(L, ct)) {
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 0 || lua_tointeger(L, -2) >= MAX_CS)
          hfail(L, "%s.cs: keys are chip select numbers 0..%d", where, MAX_CS - 1);
        int c = (int)lua_tointeger(L, -2);
        int ap = lua_type(L, -1) == LUA_TSTRING
                     ? pin_find(lua_tostring(L, -1), H.ad[H.bus_ad[bus]].dev.u.iface)
                     : -1;
        if (ap < 0 || ap >= 8 + H.ad[H.bus_ad[bus]].dev.info->high_pins)
          hfail(L, "%s.cs[%d] must name an adapter pin ADBUS3..ADBUS7 or ACBUS0..ACBUS%d of the "
                   "%s", where, c, H.ad[H.bus_ad[bus]].dev.info->high_pins - 1,
                H.ad[H.bus_ad[bus]].dev.info->label);
        if (ap < 3) hfail(L, "%s.cs[%d]: %s is an SPI line (SK, DO, DI)", where, c, pin_names[ap]);
        for (int o = 0; o < MAX_CS; o++)
          if (H.cs_pin[bus][o] == ap)
            hfail(L, "%s.cs: cs %d and %d both on %s", where, o, c, pin_names[ap]);
        H.cs_pin[bus][c] = (int8_t)ap;
        lua_pop(L, 1);
      }
    }
    lua_settop(L, e - 1);
  }
  return nbuses;
}

void ftdi_board_pin_entry(lua_State *L, int v, const char *name, const char *file) {
  H.file = file;
  char where[48];
  snprintf(where, sizeof where, "pins.%s", name);
  static const char *const keys[] = {"ftdi", "pin", NULL};
  v = lua_absindex(L, v);
  check_keys(L, v, where, keys);
  if (H.npins >= BOARD_MAX_PINS) hfail(L, "%s: too many adapter pins", where);
  if (lua_getfield(L, v, "ftdi") == LUA_TNIL)
    hfail(L, "%s needs 'ftdi' (the adapter URL) and 'pin' (e.g. \"ADBUS4\")", where);
  int a = adapter_for(L, -1, where);
  lua_pop(L, 1);
  adapter_t *ad = &H.ad[a];
  lua_getfield(L, v, "pin");
  int ap = lua_type(L, -1) == LUA_TSTRING ? pin_find(lua_tostring(L, -1), ad->dev.u.iface) : -1;
  if (ap < 0 || ap >= 8 + ad->dev.info->high_pins) {
    if (ad->dev.info->high_pins)
      hfail(L, "%s: 'pin' must name a pin ADBUS0..ADBUS7 or ACBUS0..ACBUS%d of the %s (got %s)",
            where, ad->dev.info->high_pins - 1, ad->dev.info->label,
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
    hfail(L, "%s: 'pin' must name a pin ADBUS0..ADBUS7 of the %s (got %s)", where,
          ad->dev.info->label,
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  for (int i = 0; i < H.npins; i++)
    if (H.pin[i].ad == a && H.pin[i].apin == ap)
      hfail(L, "%s: %s of %s is already pin '%s'", where, pin_names[ap], ad->dev.url,
            H.pin[i].name);
  hpin_t *p = &H.pin[H.npins++];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->ad = a;
  p->apin = ap;
  p->num = -1;
  p->last = -1;
  p->mode = HAL_GPIO_INPUT;
  ad->used |= (uint16_t)(1u << ap);
}

int ftdi_board_unnumbered(const char **name) {
  int best = -1;
  for (int i = 0; i < H.npins; i++)
    if (H.pin[i].num < 0 && (best < 0 || strcmp(H.pin[i].name, H.pin[best].name) < 0)) best = i;
  if (best >= 0) *name = H.pin[best].name;
  return best;
}

void ftdi_board_set_number(int k, int pin) {
  H.pin[k].num = pin;
  H.by_num[pin] = (int8_t)(k + 1);
  H.ad[H.pin[k].ad].wire[H.pin[k].apin] = pin;
}

void ftdi_board_finish(lua_State *L, const char *file) {
  H.file = file;
  for (int i = 0; i < H.npins; i++) {
    adapter_t *a = &H.ad[H.pin[i].ad];
    if (a->spi && H.pin[i].apin < 3)
      hfail(L, "pins.%s: %s of %s is an SPI line (SK, DO, DI)", H.pin[i].name,
            pin_names[H.pin[i].apin], a->dev.url);
  }
  for (int k = 0; k < board_part_count(); k++) {
    vhw_part_t *p = board_part(k);
    if (p->bus < 0 || p->bus >= BOARD_MAX_BUSES || H.bus_ad[p->bus] < 0) continue;
    adapter_t *a = &H.ad[H.bus_ad[p->bus]];
    int ap = p->cs < MAX_CS ? H.cs_pin[p->bus][p->cs] : -1;
    if (ap < 0)
      hfail(L, "part '%s': chip select %d of spi[%d] has no adapter pin (map it in spi[%d].cs)",
            p->name, p->cs, p->bus, p->bus);
    for (int i = 0; i < H.npins; i++)
      if (H.pin[i].ad == H.bus_ad[p->bus] && H.pin[i].apin == ap)
        hfail(L, "part '%s': its chip select %s is also pin '%s'", p->name, pin_names[ap],
              H.pin[i].name);
    a->used |= (uint16_t)(1u << ap);
    if (a->dev.emu && mpsse_attach(ftdi_emu_engine(a->dev.emu), p, ap) != 0)
      hfail(L, "part '%s': too many parts on the emulated adapter", p->name);
  }
  /* Power-on state of what the board owns: SK, DO low outputs, DI input,
   * every chip select a high output (deselected); GPIO pins inputs. */
  for (int b = 0; b < BOARD_MAX_BUSES; b++) {
    if (H.bus_ad[b] < 0) continue;
    ftdi_dev_t *d = &H.ad[H.bus_ad[b]].dev;
    d->dir |= 0x3;
    for (int k = 0; k < board_part_count(); k++) {
      vhw_part_t *p = board_part(k);
      if (p->bus == b && p->cs >= 0 && p->cs < MAX_CS && H.cs_pin[b][p->cs] >= 0) {
        d->value |= (uint16_t)(1u << H.cs_pin[b][p->cs]);
        d->dir |= (uint16_t)(1u << H.cs_pin[b][p->cs]);
      }
    }
  }
}

void ftdi_board_unload(void) {
  sched_timer_stop(&H.poll);
  for (int i = 0; i < H.nad; i++) {
    ftdi_dev_close(&H.ad[i].dev);
    ftdi_emu_free(H.ad[i].dev.emu);
  }
  memset(&H, 0, sizeof H);
}

bool ftdi_board_has_bus(int bus) {
  return bus >= 0 && bus < BOARD_MAX_BUSES && H.nad && H.bus_ad[bus] >= 0;
}

bool ftdi_board_has_pin(int pin) { return pin >= 0 && pin < BOARD_MAX_PINS && H.by_num[pin]; }

int ftdi_board_adapter_count(void) { return H.nad; }
ftdi_dev_t *ftdi_board_adapter(int i) { return i >= 0 && i < H.nad ? &H.ad[i].dev : NULL; }

ftdi_dev_t *ftdi_board_find(const char *url) {
  for (int i = 0; i < H.nad; i++)
    if (strcmp(H.ad[i].dev.url, url) == 0) return &H.ad[i].dev;
  return NULL;
}

ftdi_dev_t *ftdi_board_bus_adapter(int bus) {
  return ftdi_board_has_bus(bus) ? &H.ad[H.bus_ad[bus]].dev : NULL;
}

int ftdi_board_cs_pin(int bus, int cs) {
  return ftdi_board_has_bus(bus) && cs >= 0 && cs < MAX_CS ? H.cs_pin[bus][cs] : -1;
}

/* ---- GPIO ---- */

static hpin_t *hp(int pin) { return &H.pin[H.by_num[pin] - 1]; }

/* Push a pin's mode and latch to the adapter: open drain is the
 * direction bit (driven low for 0, an input for 1). */
static int apply(hpin_t *p) {
  ftdi_dev_t *d = &H.ad[p->ad].dev;
  uint16_t bit = (uint16_t)(1u << p->apin), v = d->value, dir = d->dir;
  switch (p->mode) {
    case HAL_GPIO_OUTPUT:
      dir |= bit;
      v = p->latch ? (uint16_t)(v | bit) : (uint16_t)(v & ~bit);
      break;
    case HAL_GPIO_OPEN_DRAIN:
      v &= (uint16_t)~bit;
      dir = p->latch ? (uint16_t)(dir & ~bit) : (uint16_t)(dir | bit);
      break;
    default: dir &= (uint16_t)~bit; break;
  }
  return ftdi_dev_set_pins(d, v, dir);
}

int ftdi_board_gpio_mode(int pin, hal_gpio_mode_t mode) {
  hpin_t *p = hp(pin);
  if (mode == HAL_GPIO_INPUT_PULLDOWN) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s of FTDI adapter %s has no pull-down (inputs have pull-ups: "
                              "use \"in\" or \"in_pullup\")", pin_names[p->apin],
             H.ad[p->ad].dev.url);
    hal_set_error_detail(HAL_ENOTSUP, msg);
    return HAL_ENOTSUP;
  }
  p->mode = mode;
  return apply(p);
}

int ftdi_board_gpio_write(int pin, int level) {
  hpin_t *p = hp(pin);
  p->latch = level != 0;
  if (p->mode != HAL_GPIO_OUTPUT && p->mode != HAL_GPIO_OPEN_DRAIN) return HAL_OK;
  return apply(p);
}

int ftdi_board_gpio_read(int pin) {
  hpin_t *p = hp(pin);
  if (p->mode == HAL_GPIO_OUTPUT) return p->latch;
  uint16_t lv;
  int r = ftdi_dev_read_pins(&H.ad[p->ad].dev, &lv);
  return r < 0 ? r : (lv >> p->apin) & 1;
}

static void poll_pins(lua_State *L, sched_timer_t *t);

static void poll_arm(void) {
  bool any = false;
  for (int i = 0; i < H.npins && !any; i++) any = H.pin[i].edge != 0;
  if (!any) {
    sched_timer_stop(&H.poll);
    H.polling = false;
  } else if (!H.polling) {
    H.polling = true;
    H.poll.fn = poll_pins;
    sched_timer_start(&H.poll, sched_now() + FTDI_POLL_US);
  }
}

/* One pin read per adapter with a listened pin; edges since the last read
 * are posted as the board's interrupts would be (the time of the poll). */
static void poll_pins(lua_State *L, sched_timer_t *t) {
  (void)L;
  uint64_t now = sched_now();
  for (int a = 0; a < H.nad; a++) {
    bool want = false;
    for (int i = 0; i < H.npins && !want; i++) want = H.pin[i].ad == a && H.pin[i].edge;
    if (!want || now < H.ad[a].poll_after) continue;
    uint16_t lv;
    if (ftdi_dev_read_pins(&H.ad[a].dev, &lv) != HAL_OK) {
      H.ad[a].poll_after = now + 100 * FTDI_POLL_US; /* unplugged? look again in 100 ms */
      continue;
    }
    for (int i = 0; i < H.npins; i++) {
      hpin_t *p = &H.pin[i];
      if (p->ad != a || !p->edge) continue;
      int level = (lv >> p->apin) & 1;
      if (p->last >= 0 && level != p->last &&
          ((level && (p->edge & HAL_GPIO_EDGE_RISING)) ||
           (!level && (p->edge & HAL_GPIO_EDGE_FALLING))))
        gpio_irq_post(p->num, level, now);
      p->last = level;
    }
  }
  sched_timer_start(t, now + FTDI_POLL_US);
}

int ftdi_board_gpio_irq(int pin, hal_gpio_edge_t edge) {
  hpin_t *p = hp(pin);
  if (edge && !p->edge) {
    uint16_t lv; /* the level edges are measured from */
    int r = ftdi_dev_read_pins(&H.ad[p->ad].dev, &lv);
    if (r < 0) return r;
    p->last = (lv >> p->apin) & 1;
  }
  p->edge = (uint8_t)edge;
  poll_arm();
  return HAL_OK;
}

/* ---- SPI ---- */

static int spi_setting(int bus, const hal_spi_config_t *cfg, ftdi_spi_t *s) {
  ftdi_dev_t *d = &H.ad[H.bus_ad[bus]].dev;
  int ap = cfg->cs < MAX_CS ? H.cs_pin[bus][cfg->cs] : -1;
  char msg[400];
  if (ap < 0) {
    snprintf(msg, sizeof msg, "FTDI adapter %s: no adapter pin for chip select %d (map it in "
                              "the board file: spi[%d].cs)", d->url, cfg->cs, bus);
    hal_set_error_detail(HAL_ENODEV, msg);
    return HAL_ENODEV;
  }
  for (int i = 0; i < H.npins; i++)
    if (&H.ad[H.pin[i].ad].dev == d && H.pin[i].apin == ap) {
      snprintf(msg, sizeof msg, "FTDI adapter %s: chip select %d would be %s, which is pin "
                                "'%s' (map cs elsewhere: spi[%d].cs)", d->url, cfg->cs,
               pin_names[ap], H.pin[i].name, bus);
      hal_set_error_detail(HAL_ENODEV, msg);
      return HAL_ENODEV;
    }
  uint16_t div;
  bool div5;
  uint32_t actual;
  if (!ftdi_clock_pick(d->info, cfg->speed_hz, &div, &div5, &actual)) {
    snprintf(msg, sizeof msg, "FTDI adapter %s: the %s clocks SPI at %u Hz at the slowest",
             d->url, d->info->label, actual);
    hal_set_error_detail(HAL_EINVAL, msg);
    return HAL_EINVAL;
  }
  if (!(d->dir & (1u << ap))) d->value |= (uint16_t)(1u << ap); /* a new CS starts high */
  *s = (ftdi_spi_t){cfg->speed_hz, cfg->mode, cfg->lsb_first != 0, ap};
  return HAL_OK;
}

int ftdi_board_spi_configure(int bus, const hal_spi_config_t *cfg) {
  ftdi_spi_t s;
  int r = spi_setting(bus, cfg, &s);
  if (r != HAL_OK) return r;
  /* Open now: a missing adapter or permission is spi.setup's error. */
  return ftdi_dev_ensure(&H.ad[H.bus_ad[bus]].dev);
}

int ftdi_board_spi_transfer(int bus, const hal_spi_config_t *cfg, const uint8_t *tx, uint8_t *rx,
                            size_t len, board_spi_rec_t *r) {
  ftdi_spi_t s;
  int rc = spi_setting(bus, cfg, &s);
  if (rc != HAL_OK) return rc;
  r->fault = 0;
  rc = ftdi_dev_spi(&H.ad[H.bus_ad[bus]].dev, &s, tx, rx, len);
  size_t n = len < BOARD_TRACE_BYTES ? len : BOARD_TRACE_BYTES;
  for (size_t i = 0; i < n; i++) {
    r->tx[i] = tx ? tx[i] : 0xFF;
    r->rx[i] = rx && rc == HAL_OK ? rx[i] : 0xFF; /* a write reads nothing back */
  }
  return rc;
}
