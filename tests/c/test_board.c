/* Board files (sim/board.c) are outside data evaluated in the app's
 * state: they must not reach a single function (not even string methods
 * through the string metatable, whose C loops no instruction budget
 * stops), must end in bounded time, must leave the state as they found it
 * (metatables, hook, collector, memory cap) whether they load or fail, and
 * are checked strictly (unknown keys, strings for numbers).
 * Usage: test_board BOARDS_DIR (every board file there must load). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "board.h"
#include "check.h"
#include "hal/hal_gpio.h"
#include "lauxlib.h"
#include "lualib.h"
#include "rt.h"

static lua_State *L;
static char err[512];

static double cpu_s(void) { return (double)clock() / CLOCKS_PER_SEC; }

static bool load(const char *text) {
  err[0] = 0;
  return board_load(L, text, strlen(text), "t.lua", err, sizeof err);
}

/* The board fails, quickly, with a message containing `msg`. */
static void bad(const char *text, const char *msg) {
  double t0 = cpu_s();
  bool ok = load(text);
  double dt = cpu_s() - t0;
  if (ok || !strstr(err, msg) || dt > 3.0) {
    fprintf(stderr, "board: %s\n  loaded: %d, %.2f s CPU\n  error:  %s\n  wanted: %s\n", text,
            ok, dt, err, msg);
    exit(1);
  }
}

static void good(const char *text) {
  if (!load(text)) {
    fprintf(stderr, "board: %s\n  error: %s\n", text, err);
    exit(1);
  }
}

/* Lua code run in the (app's) state after a board load. */
static const char *eval(const char *code) {
  static char out[256];
  if (luaL_dostring(L, code) != LUA_OK) {
    snprintf(out, sizeof out, "error: %s", lua_tostring(L, -1));
  } else {
    snprintf(out, sizeof out, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(nil)");
  }
  lua_settop(L, 0);
  return out;
}

static int hook_calls;
static void app_hook(lua_State *l, lua_Debug *ar) {
  (void)l;
  (void)ar;
  hook_calls++;
}

/* What the app set up before the board loaded is all there afterwards. */
static void state_intact(void) {
  CHECK(strcmp(eval("return ('x'):rep(3) .. ('10' + 1)"), "xxx11") == 0);
  CHECK(strcmp(eval("return (5):twice()"), "10") == 0); /* number metatable */
  CHECK(lua_gethook(L) == app_hook);
  CHECK(lua_gethookmask(L) == LUA_MASKCOUNT);
  CHECK(lua_gethookcount(L) == 12345);
  CHECK(lua_gc(L, LUA_GCISRUNNING));
  CHECK(rt_memstats(L)->limit == 0);
  CHECK(lua_gettop(L) == 0);
}

static void sandbox(void) {
  luaL_openlibs(L);
  /* An app-given metatable on numbers: hidden from the board too. */
  CHECK(strcmp(eval("debug.setmetatable(0, {__index = {twice = function(n) return 2 * n end}})"
                    " return 'set'"),
               "set") == 0);
  lua_sethook(L, app_hook, LUA_MASKCOUNT, 12345);
  state_intact();

  /* No function in reach: string methods, coercions, number methods. */
  bad("return {name = ('x'):rep(3), parts = {}}", "attempt to index a string value");
  state_intact();
  bad("return {name = ('x').rep, parts = {}}", "attempt to index a string value");
  bad("return {name = ('a'):rep(30):match(('a*'):rep(30) .. 'b'), parts = {}}",
      "attempt to index a string value");
  bad("return {name = ('x'):rep(1e9), parts = {}}", "attempt to index a string value");
  bad("return {gpio = '10' + 1, parts = {}}", "perform arithmetic on a string value");
  bad("return {gpio = (5):twice(), parts = {}}", "attempt to index a number value");
  bad("return {parts = {}, gpio = (_ENV.string or print or require or type) and 1 or 'none'}",
      "got the string 'none'");
  bad("local t = setmetatable({}, {__len = function() return 1 end}) return t",
      "attempt to call a nil value");
  state_intact();
  /* The primitive operations on strings still work (no metamethod). */
  good("local s = 'a' .. 'b' .. 1 return {name = s .. #s .. (s < 'b' and 'y' or 'n') .. "
       "(s == 'ab1' and 'e' or 'x'), parts = {}}");
  CHECK(strcmp(board_name(), "ab13ye") == 0);
  state_intact();

  /* Bounded time: endless loops, quadratic string work, deep recursion. */
  bad("while true do end", "takes too long");
  bad("local s = 'x' for _ = 1, 18 do s = s .. s end local n = 0 "
      "while true do local t = s .. n n = n + 1 end",
      "takes too long");
  bad("local a, b = 'x', 'x' for _ = 1, 17 do a = a .. a b = b .. b end "
      "while a == b do end",
      "takes too long");
  bad("local s = 'x' for _ = 1, 40 do s = s .. s end return {parts = {}}", "not enough memory");
  bad("local function f() return 1 + f() end return f()", "t.lua");
  bad("local t = {} for i = 1, 1e7 do t[i] = i end return t", "t.lua");
  state_intact();
}

static void strict(void) {
  bad("return {parst = {}}", "unknown key 'parst'; did you mean 'parts'?");
  bad("return {parts = {}, gpio = '16'}", "'gpio' must be a pin count 1..64 (got the string '16')");
  bad("return {parts = {}, spi = 1.5}", "'spi' must be a bus count 0..4 (got 1.5)");
  bad("return {parts = {}, name = 5}", "'name' must be a string");
  bad("return {1, parts = {}}", "unexpected entry [1]");
  bad("return {parts = {{type = 'led', name = 'a', pn = 1}}}",
      "unknown key 'parts[1].pn'; did you mean 'pin'?");
  bad("return {parts = {{type = 'led', name = 'a', pin = 1, bus = 0}}}",
      "unknown key 'parts[1].bus'; valid: type, name, panel, pin, lit, changes, brightness, active_low");
  /* A display's D/C and reset pins. */
  bad("return {parts = {{type = 'ili9341', name = 'd', cs = 0, dc = 'NOPE'}}}",
      "parts[1]: 'dc' must be a pin number or name: no pin named 'NOPE'");
  bad("return {parts = {{type = 'ili9341', name = 'd', cs = 0, dc = 16}}}",
      "parts[1]: 'dc' must be a pin number 0..15 or name (got 16)");
  bad("return {parts = {{type = 'ili9341', name = 'd', cs = 0, dc = 3, reset = 3}}}",
      "parts[1]: 'dc' and 'reset' must be different pins");
  bad("return {parts = {{type = 'ili9341', name = 'd', cs = 0, dc = 3},"
      " {type = 'ili9341', name = 'e', cs = 1, reset = 3}}}",
      "parts[2]: pin already watched by 'd'");
  bad("return {parts = {{type = 'bme280', name = 'a', cs = 0, dc = 3}}}",
      "unknown key 'parts[1].dc'");
  bad("return {parts = {{type = 'ili9341', name = 'd', cs = 0, dcc = 3}}}",
      "unknown key 'parts[1].dcc'; did you mean 'dc'?");
  good("return {parts = {{type = 'led', name = 'L', pin = 3},"
       " {type = 'ili9341', name = 'd', cs = 0, dc = 'L', reset = 4}}}");
  CHECK(board_find_part("d")->dc_pin == 3 && board_find_part("d")->reset_pin == 4);
  bad("return {parts = {{type = 'bme280', name = 'a', cs = 0, tempreature = 20}}}",
      "unknown key 'parts[1].tempreature'; did you mean 'temperature'?");
  bad("return {parts = {{type = 'bme280', name = 'a', cs = 0, temperature = '20'}}}",
      "parts[1]: 'temperature' must be a number or boolean (got the string '20')");
  bad("return {parts = {{type = 'bme280', name = 'a', cs = 0, temperature = 0/0}}}",
      "'temperature' must be a number or boolean (got nan)");
  bad("return {parts = {{type = 'bme280', name = 'a', cs = 0, temperature = 300}}}",
      "bad value for 'temperature' (got 300)");
  bad("return {parts = {{type = 'bme280', name = 'a', cs = '0'}}}", "needs 'cs' (0..255)");
  bad("return {parts = {{type = 'bme280', name = 'a', bus = '0', cs = 0}}}",
      "'bus' must be 0..spi-1 (got the string '0')");
  bad("return {parts = {{type = 'bme208', name = 'a', cs = 0}}}",
      "unknown part type 'bme208'; did you mean 'bme280'?");
  bad("return {parts = {{name = 'a', pin = 1}}}", "'type' must be a part type (got nothing)");
  bad("return {parts = {{type = 'led', name = 'a', pin = '1'}}}", "no pin named '1'");
  bad("return {pins = {ACCEL_INT = 3}, parts = {{type = 'lis3dh', name = 'a', cs = 0, "
      "irq = 'ACCEL_IN'}}}",
      "no pin named 'ACCEL_IN'; did you mean 'ACCEL_INT'?");
  bad("return {parts = {{type = 'led', name = 'a', pin = 1}, x = {}}}", "unexpected key 'x'");
  bad("return {parts = {{type = 'led', name = 'a', pin = 1}, nil, "
      "{type = 'led', name = 'b', pin = 2}}}",
      "parts[2] must be a table");
  bad("return {parts = {{type = 'led', name = 'a', pin = 1, lit = 1}}}", "'lit' is read-only");
  bad("return {pins = {A = 1, B = 1}, parts = {}}", "both name pin 1");
  bad("return {pins = {A = '1'}, parts = {}}", "A = the string '1'");
  bad("return {pins = {[1] = 1}, parts = {}}", "entries must be NAME = pin");
  good("return {pins = {A = 1}, parts = {{type = 'led', name = 'L', pin = 'A', active_low = true},"
       " {type = 'lis3dh', name = 'acc', bus = 0, cs = 1, irq = 5, x = 0.5}}}");
  CHECK(board_part_count() == 2);
  CHECK(board_find_part("acc")->irq_pin == 5);
  CHECK(hal_gpio_find("A") == 1 && hal_gpio_find("L") < 0); /* the name in pins wins */
  /* A part's name names its pin only if no other pin has that name. */
  good("return {pins = {LED0 = 5}, parts = {{type = 'led', name = 'LED0', pin = 0}}}");
  CHECK(hal_gpio_find("LED0") == 5);
  CHECK(hal_gpio_name(0) == NULL);
  state_intact();
}

static void shipped_boards(const char *dir) {
  DIR *d = opendir(dir);
  CHECK(d != NULL);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    static char text[65536];
    size_t tl = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[tl] = 0;
    if (!board_load(L, text, tl, path, err, sizeof err)) {
      fprintf(stderr, "%s does not load: %s\n", path, err);
      exit(1);
    }
    n++;
  }
  closedir(d);
  CHECK(n > 0);
}

/* Every model's quantities (the window's sliders) are keys it accepts at
 * both ends of their range, and read back; screens have their size. */
static void quantities(void) {
  for (const vhw_model_t *m = vhw_models; m->type; m++) {
    vhw_part_t *p = m->create(NULL);
    CHECK(p != NULL);
    for (const vhw_quantity_t *q = p->ops->quantities; q && q->key; q++) {
      double v = -1;
      CHECK(q->min < q->max && q->unit != NULL);
      CHECK(p->ops->set(p, q->key, q->min) == VHW_OK);
      CHECK(p->ops->get(p, q->key, &v) == VHW_OK && v == q->min);
      CHECK(p->ops->set(p, q->key, q->max) == VHW_OK);
      CHECK(p->ops->get(p, q->key, &v) == VHW_OK && v == q->max);
    }
    if (p->ops->screen) {
      const vhw_screen_t *scr = p->ops->screen(p);
      CHECK(scr && scr->width > 0 && scr->height > 0 && scr->pixels);
    }
    p->ops->destroy(p);
  }
}

int main(int argc, char **argv) {
  L = rt_open(0);
  CHECK(L != NULL);
  sandbox();
  strict();
  quantities();
  if (argc > 1) shipped_boards(argv[1]);
  board_unload();
  rt_close(L);
  printf("ok\n");
  return 0;
}
