/* The core with a Lua state, outside any simulator: boots the runtime, the
 * module system and the scheduler over hal_test.c, then runs Lua checks.
 * Built also with -m32 so size assumptions show up before the Cortex-M. */
#include <string.h>

#include "bundle.h"
#include "check.h"
#include "lauxlib.h"
#include "lualib.h"
#include "luaos.h"
#include "modreg.h"
#include "rt.h"
#include "sched.h"

/* No bundled modules in this test. */
const struct bundle_entry bundle_table[] = {{0, 0, 0}};
const unsigned bundle_count = 0;

static const char script[] =
    "local order = {}\n"
    "for _, ms in ipairs({300, 100, 200}) do\n"
    "  task.spawn(function() task.sleep(ms); order[#order + 1] = ms end)\n"
    "end\n"
    "local t0 = sys.uptime()\n"
    "task.sleep(1000)\n"
    "assert(sys.uptime() - t0 == 1000, 'virtual time is exact')\n"
    "assert(table.concat(order, ',') == '100,200,300', table.concat(order, ','))\n"
    "gpio.write('P3', 1); assert(gpio.read(3) == 1)\n"
    "assert(spi.setup(0):transfer('abc') == 'abc')\n"
    "local ch = task.channel(4)\n"
    "task.spawn(function() for i = 1, 10 do ch:send(i) end ch:close() end)\n"
    "local sum = 0\n"
    "while true do local v = ch:recv(); if not v then break end sum = sum + v end\n"
    "assert(sum == 55)\n"
    "local n = 0\n"
    "local h = timer.every(10, function() n = n + 1 end)\n"
    "task.sleep(105); h:cancel()\n"
    "assert(n == 10, n)\n"
    "assert(math.maxinteger == 9223372036854775807, 'same number config everywhere')\n"
    "assert(string.pack('j', 1):len() == 8)\n"
    "done = true\n";

static void run_script(bool lazy) {
  lua_State *L = rt_open(0);
  CHECK(L != NULL);
  sched_init(L, true);
  modreg_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.lazy_stdlib = lazy;
  modreg_open(L, &cfg);
  CHECK(luaL_loadbuffer(L, script, sizeof script - 1, "=test") == LUA_OK);
  sched_spawn(L, 0);
  lua_pop(L, 1);
  sched_result_t r = sched_run(L, UINT64_MAX);
  if (r == SCHED_ERROR) fprintf(stderr, "%s\n", lua_tostring(L, -1));
  CHECK(r == SCHED_IDLE);
  CHECK(lua_getglobal(L, "done") == LUA_TBOOLEAN);
  rt_close(L);
}

/* The counting allocator: accounting and a hard limit that fails cleanly. */
static void test_memory_limit(void) {
  lua_State *L = rt_open(64 * 1024);
  CHECK(L != NULL);
  sched_init(L, true);
  modreg_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  modreg_open(L, &cfg);
  rt_memstats_t *m = rt_memstats(L);
  CHECK(m->used > 0 && m->used <= m->peak);
  static const char hog[] = "local t = {} for i = 1, 1e6 do t[i] = ('x'):rep(100) .. i end";
  CHECK(luaL_loadbuffer(L, hog, sizeof hog - 1, "=hog") == LUA_OK);
  int st = lua_pcall(L, 0, 0, 0);
  CHECK(st == LUA_ERRMEM);
  CHECK(m->fails > 0);
  CHECK(m->peak <= 64 * 1024);
  lua_gc(L, LUA_GCCOLLECT);
  /* Still usable after the failure. */
  static const char ok[] = "x = 1 + 1";
  CHECK(luaL_dostring(L, ok) == LUA_OK);
  rt_close(L);
}

/* "Did you mean" hints for option keys and names. */
static int check_keys_call(lua_State *L) {
  static const char *const keys[] = {"mode", "freq", "bits", NULL};
  luaos_check_keys(L, 1, keys);
  return 0;
}

static void test_nearest(void) {
  static const char *const modes[] = {"in", "out", "in_pullup", "open_drain", NULL};
  CHECK(strcmp(luaos_nearest("otu", modes), "out") == 0);
  CHECK(strcmp(luaos_nearest("OUT", modes), "out") == 0);
  CHECK(strcmp(luaos_nearest("in_pulup", modes), "in_pullup") == 0);
  CHECK(luaos_nearest("output", modes) == NULL); /* 3 edits from "out": no guess */
  lua_State *L = rt_open(0);
  CHECK(L != NULL);
  static const char code[] = "local f = ... f({mode = 0, freq = 1})\n"
                             "local ok, e = pcall(f, {mdoe = 0})\n"
                             "assert(not ok and e:find(\"unknown option 'mdoe'; did you mean 'mode'?\", 1, true), e)\n"
                             "ok, e = pcall(f, {zzzzzz = 0})\n"
                             "assert(e:find('valid: mode, freq, bits', 1, true), e)\n"
                             "ok, e = pcall(f, {[1] = 0})\n"
                             "assert(e:find('keys must be strings', 1, true), e)\n";
  luaL_openlibs(L);
  CHECK(luaL_loadbuffer(L, code, sizeof code - 1, "=keys") == LUA_OK);
  lua_pushcfunction(L, check_keys_call);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    CHECK(0);
  }
  rt_close(L);
}

/* Argument errors name functions as the docs do, however they are reached. */
static int argerr_int(lua_State *L) {
  lua_pushinteger(L, luaos_checkinteger(L, 1));
  return 1;
}

static int argerr_opt(lua_State *L) {
  static const char *const modes[] = {"in", "out", NULL};
  lua_pushinteger(L, luaos_checkoption(L, 2, NULL, modes));
  return 1;
}

static void test_argerror(void) {
  lua_State *L = rt_open(0);
  CHECK(L != NULL);
  luaL_openlibs(L);
  static const luaL_Reg f[] = {{"num", argerr_int}, {"opt", argerr_opt}, {NULL, NULL}};
  luaL_newlib(L, f);
  lua_pushvalue(L, -1);
  lua_setglobal(L, "demo");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "demo");
  lua_pop(L, 2);
  lua_pushboolean(L, 1);
  lua_pushcclosure(L, argerr_int, 1); /* a closure: not equal to demo.num */
  lua_setglobal(L, "loose");          /* in _G only */
  static const char code[] =
      "local function msg(f, ...) local ok, e = pcall(f, ...) assert(not ok) return e end\n"
      "assert(msg(function() demo.num('x') end):find(\"bad argument #1 to 'demo.num' "
      "(number expected, got string)\", 1, true))\n"
      "local n = demo.num\n"
      "assert(msg(function() n(1.5) end):find(\"to 'demo.num' (number has no integer "
      "representation)\", 1, true))\n"
      "assert(msg(demo.opt, 1, 'output') == \"bad argument #2 to 'demo.opt' (invalid option "
      "'output'; valid: in, out)\")\n"
      "assert(msg(demo.opt, 1, 'ot'):find(\"did you mean 'out'?\", 1, true))\n"
      "local obj = setmetatable({}, {__docname = 'o', __index = {num = demo.num}})\n"
      "assert(msg(function() obj:num() end):find(\"calling 'o:num' on bad self\", 1, true))\n"
      "assert(msg(function() loose('x') end):find(\"to 'loose'\", 1, true))\n"
      "assert(msg(function() local g = loose g('x') end):find(\"to 'loose'\", 1, true))\n";
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    CHECK(0);
  }
  rt_close(L);
}

int main(void) {
  test_nearest();
  test_argerror();
  run_script(false);
  run_script(true);
  test_memory_limit();
  printf("core: ok (pointer size %d)\n", (int)sizeof(void *));
  return 0;
}
