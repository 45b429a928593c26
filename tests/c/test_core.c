#define _POSIX_C_SOURCE 200809L
/* The core with a Lua state, outside any simulator: boots the runtime, the
 * module system and the scheduler over hal_test.c, then runs Lua checks.
 * Built also with -m32 so size assumptions show up before the Cortex-M. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

static int open_for_limit(lua_State *L) {
  modreg_open(L, lua_touserdata(L, 1));
  return 0;
}

static int spawn_top(lua_State *L) {
  sched_spawn(L, 0);
  return 0;
}

/* A full heap in and around tasks: every run ends with an error or
 * normally, never a PANIC. Each script runs under a range of heap limits
 * so allocation fails at many different points (spawn, results, the
 * uncaught error's traceback, waking joiners, timers). */
static const char *const oom_scripts[] = {
    /* uncaught "not enough memory" in a task: its traceback needs memory */
    "task.spawn(function() local t = {} for i = 1, 1e7 do t[i] = ('x'):rep(64) .. i end end)\n"
    "task.sleep(10)\n",
    /* results stored and handed to joiners */
    "local t = task.spawn(function() local r = {} for i = 1, 3000 do r[i] = {i} end\n"
    "  return table.unpack(r) end)\n"
    "local j = task.spawn(function() return t:join() end)\n"
    "task.sleep(1) j:join()\n",
    /* timers and cancel with <close> */
    "for i = 1, 200 do timer.after(i % 7, function() local s = {} for k = 1, 50 do s[k] = {} end end) end\n"
    "local ts = {} for i = 1, 200 do ts[i] = task.spawn(function()\n"
    "  local c <close> = setmetatable({}, {__close = function() local z = {1, 2, 3} end})\n"
    "  task.sleep(5) end) end\n"
    "task.sleep(1) for i = 1, 200, 2 do ts[i]:cancel() end task.sleep(20)\n",
    /* an error object whose __tostring fails */
    "task.spawn(function() error(setmetatable({}, {__tostring = function() error('meta boom') end})) end)\n"
    "task.sleep(1)\n",
};

static void run_limited(const char *code, size_t limit, int *errors, int *oks) {
  lua_State *L = rt_open(limit);
  CHECK(L != NULL);
  sched_init(L, true);
  modreg_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.lazy_stdlib = true;
  lua_pushcfunction(L, open_for_limit);
  lua_pushlightuserdata(L, &cfg);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK || luaL_loadbuffer(L, code, strlen(code), "=oom") != LUA_OK) {
    rt_close(L); /* not even booted under this limit: fine */
    return;
  }
  /* spawning may itself fail: protect it like the loop does */
  lua_pushcfunction(L, spawn_top);
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    rt_close(L);
    return;
  }
  sched_result_t r = sched_run(L, UINT64_MAX);
  if (r == SCHED_ERROR) {
    CHECK(lua_type(L, -1) == LUA_TSTRING);
    (*errors)++;
  } else {
    (*oks)++;
  }
  rt_close(L);
}

static void test_task_oom(void) {
  int errors = 0, oks = 0;
  for (size_t i = 0; i < sizeof oom_scripts / sizeof oom_scripts[0]; i++)
    for (size_t limit = 48 * 1024; limit <= 400 * 1024; limit += 3 * 1024 + 17)
      run_limited(oom_scripts[i], limit, &errors, &oks);
  CHECK(errors > 0);
  /* The plain case: the message says what happened, in the task that caused it. */
  lua_State *L = rt_open(160 * 1024);
  sched_init(L, true);
  modreg_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  modreg_open(L, &cfg);
  CHECK(luaL_loadbuffer(L, oom_scripts[0], strlen(oom_scripts[0]), "=oom") == LUA_OK);
  sched_spawn(L, 0);
  lua_pop(L, 1);
  CHECK(sched_run(L, UINT64_MAX) == SCHED_ERROR);
  CHECK(strstr(lua_tostring(L, -1), "not enough memory") != NULL);
  rt_close(L);
}

/* Interrupts (as Ctrl-C delivers them) and the budget without ticks. */
static int l_interrupt(lua_State *L) {
  (void)L;
  sched_interrupt();
  return 0;
}

static int l_target(lua_State *L) {
  sched_set_interrupt_target(lua_isnoneornil(L, 1) ? NULL : luaL_checkudata(L, 1, SCHED_TASK_MT));
  return 0;
}

static const char intr_script[] =
    "local interrupt, target = ...\n"
    /* the running task: raised at its next instruction, even in a nested coroutine */
    "local ok, err = pcall(function() interrupt() while true do end end)\n"
    "assert(not ok and err:find('interrupted', 1, true), err)\n"
    "ok, err = pcall(coroutine.wrap(function() interrupt() while true do end end))\n"
    "assert(not ok and err:find('interrupted', 1, true), err)\n"
    /* a parked target is woken to receive it; the caller goes on */
    "local got\n"
    "local b = task.spawn(function() local ok2, e = pcall(task.sleep, 100000) got = e end)\n"
    "task.sleep(1)\n"
    "target(b) interrupt()\n"
    "local t0 = sys.uptime()\n"
    "b:join()\n"
    "assert(sys.uptime() - t0 < 10 and got:find('interrupted', 1, true), tostring(got))\n"
    /* a target waiting on a channel */
    "local ch = task.channel(1)\n"
    "local c = task.spawn(function() local ok3, e = pcall(ch.recv, ch) got = e end)\n"
    "task.yield() target(c) interrupt() c:join()\n"
    "assert(got:find('interrupted', 1, true), tostring(got))\n"
    "target(nil)\n"
    /* the budget, counted from the start of each resume without ticks */
    "ok, err = pcall(function() while true do end end)\n"
    "assert(not ok and err:find('exceeded its instruction budget of 200000 without yielding', 1, true), err)\n"
    "done = true\n";

static void test_interrupts(void) {
  lua_State *L = rt_open(0);
  CHECK(L != NULL);
  sched_init(L, true);
  modreg_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  modreg_open(L, &cfg);
  sched_set_budget(200000);
  CHECK(luaL_loadbuffer(L, intr_script, sizeof intr_script - 1, "=intr") == LUA_OK);
  lua_pushcfunction(L, l_interrupt);
  lua_pushcfunction(L, l_target);
  sched_spawn(L, 2);
  lua_pop(L, 1);
  sched_result_t r = sched_run(L, UINT64_MAX);
  if (r == SCHED_ERROR) fprintf(stderr, "%s\n", lua_tostring(L, -1));
  CHECK(r == SCHED_IDLE);
  CHECK(lua_getglobal(L, "done") == LUA_TBOOLEAN);
  lua_pop(L, 1);
  sched_set_budget(0);
  /* Nobody to receive it (the only task sleeps, no target): the loop ends. */
  static const char sleeper[] = "task.sleep(1000000)";
  CHECK(luaL_loadbuffer(L, sleeper, sizeof sleeper - 1, "=sleeper") == LUA_OK);
  sched_spawn(L, 0);
  lua_pop(L, 1);
  CHECK(sched_run(L, 10) == SCHED_UNTIL);
  sched_interrupt();
  CHECK(sched_run(L, UINT64_MAX) == SCHED_ERROR);
  CHECK(strcmp(lua_tostring(L, -1), "interrupted") == 0);
  rt_close(L);
}

/* os.exit(code, true) closes the state from inside a running task (Busted
 * does that when a spec fails). A CPU-time tick or an interrupt that
 * arrives while the process then exits must not touch the freed thread
 * (under ASan this read-after-free aborts the child). */
static lua_State *close_main;

static int l_close_and_tick(lua_State *L) {
  (void)L;
  rt_close(close_main);
  for (int i = 0; i < 25; i++) sched_tick();
  sched_interrupt();
  fflush(stdout);
  _exit(0);
}

static void test_close_in_task(void) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close_main = rt_open(0);
    sched_init(close_main, true);
    sched_set_budget(200000);
    sched_use_ticks(true);
    lua_pushcfunction(close_main, l_close_and_tick);
    sched_spawn(close_main, 0);
    lua_pop(close_main, 1);
    sched_run(close_main, UINT64_MAX);
    _exit(3); /* not reached: the task exits */
  }
  int st = 0;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  sched_use_ticks(false);
}

/* Clock arithmetic saturates: a sleep that would wrap past 2^64 stays a
 * sleep "forever", it does not become one that is already over. */
static int l_sleep_huge(lua_State *L) { return sched_sleep(L, UINT64_MAX - 5); }

static void test_time_saturates(void) {
  lua_State *L = rt_open(0);
  sched_init(L, true);
  modreg_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  modreg_open(L, &cfg);
  static const char code[] = "local huge = ... task.sleep(1000) huge() woke = true";
  CHECK(luaL_loadbuffer(L, code, sizeof code - 1, "=sat") == LUA_OK);
  lua_pushcfunction(L, l_sleep_huge);
  sched_task_t *t = sched_spawn(L, 1);
  lua_pop(L, 1);
  sched_result_t rr = sched_run(L, 5000000); /* past the 1 s sleep */
  CHECK(rr == SCHED_UNTIL);
  CHECK(strcmp(sched_task_status(t), "sleeping") == 0);
  CHECK(lua_getglobal(L, "woke") == LUA_TNIL);
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


/* A fresh state as a port boots it (lazy: the board's configuration). */
static lua_State *boot(bool lazy, size_t limit) {
  lua_State *L = rt_open(limit);
  CHECK(L != NULL);
  sched_init(L, true);
  static modreg_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.lazy_stdlib = lazy;
  CHECK(modreg_open(L, &cfg));
  return L;
}

/* Runs `code` as the first thing in a fresh state; it must not fail. */
static void fresh(bool lazy, const char *name, const char *code) {
  lua_State *L = boot(lazy, 0);
  if (luaL_loadbuffer(L, code, strlen(code), name) != LUA_OK || !rt_pcall(L, 0, 0)) {
    fprintf(stderr, "%s (lazy=%d): %s\n", name, (int)lazy, lua_tostring(L, -1));
    CHECK(0);
  }
  rt_close(L);
}

/* Laziness never changes the language: string coercion from the first
 * instruction (Lua 5.4 does it in the string metatable), strict-mode or
 * cleared _G metatables keep the lazy globals. */
static void test_lazy_semantics(void) {
  static const char arith[] =
      "assert('10' + 1 == 11) assert('3' * '4' == 12) assert(-'2' == -2)\n"
      "assert('7' // 2 == 3) assert('2' ^ 2 == 4.0) assert('7' % '4' == 3)\n"
      "assert('1' - 1 == 0) assert('1' / 2 == 0.5)\n"
      "assert(10 .. 1 == '101') assert(#'abc' == 3) assert('a' < 'b')\n"
      "local ok, e = pcall(function() return 'x' + 1 end)\n"
      "assert(not ok and e:find(\"attempt to add a 'string' with a 'number'\", 1, true), e)\n";
  static const char direct[] = /* the metatable's functions called by hand, first thing */
      "assert(getmetatable(_G) == nil)\n"
      "local mt = getmetatable('')\n"
      "assert(mt.__add(1, 2) == 3 and mt.__sub('5', 1) == 4)\n"
      "assert(not pcall(mt.__unm, {}))\n"
      "assert(getmetatable('').__index == string and ('a'):rep(3) == 'aaa')\n";
  static const char methods[] =
      "assert(('x'):upper() == 'X') assert(getmetatable('').__index == string)\n"
      "assert(('%d'):format(3) == '3') assert(string.rep('a', 2) == 'aa')\n"
      "assert('10' + 1 == 11)\n";
  static const char strict[] =
      "setmetatable(_G, {__index = function(_, k) error('undefined ' .. k, 2) end,\n"
      "                  __newindex = function(_, k) error('no new global ' .. k, 2) end})\n"
      "assert(not pcall(function() return undefined_x end))\n"
      "assert(string.rep('a', 3) == 'aaa') assert(math.floor(2.5) == 2)\n"
      "assert(table.concat({1, 2}) == '12') assert(utf8.char(65) == 'A')\n"
      "assert(coroutine.running()) assert(type(debug.traceback()) == 'string')\n"
      "gpio.write('P1', 1) assert(gpio.read(1) == 1) assert(type(task.spawn) == 'function')\n"
      "assert(sys.board()) assert(timer.after and spi.setup and log.info)\n"
      "assert(gpio == require('gpio') and math == require('math'))\n";
  static const char cleared[] =
      "setmetatable(_G, nil)\n"
      "assert(math.pi > 3 and string.len('ab') == 2 and log.tag and sys.version())\n"
      "assert(('y'):rep(2) == 'yy') assert('5' + 0 == 5)\n";
  static const char identity[] =
      "assert(rawget(_G, 'gpio') and not package.loaded.gpio)\n"
      "local g = gpio\n"
      "for _ = 1, 40 do package.loaded.gpio = nil; assert(require('gpio') == g) end\n"
      "for k in pairs(math) do assert(type(k) == 'string') end\n"
      "assert(#utf8 == 0 and next(utf8))\n"
      "assert(sys.modules().gpio == '1.0' and not sys.modules().debug)\n"
      "local ok, e = pcall(getmetatable(debug).__index, 1, 2)\n"
      "assert(not ok and e:find('table expected'), e)\n"
      "ok, e = pcall(getmetatable(debug).__index, {}, 2)\n"
      "assert(not ok and e:find('placeholder expected'), e)\n"
      "ok, e = pcall(getmetatable(debug).__pairs)\n"
      "assert(not ok)\n";
  for (int lazy = 0; lazy < 2; lazy++) {
    fresh(lazy, "=arith", arith);
    fresh(lazy, "=direct", direct);
    fresh(lazy, "=methods", methods);
    fresh(lazy, "=strict", strict);
    fresh(lazy, "=cleared", cleared);
    fresh(lazy, "=identity", identity);
  }
}

/* package, package.searchers, package.loaded are the app's to break: every
 * use is type-checked (clean errors, no crash). */
static void test_untrusted_package(void) {
  static const char code[] =
      "package.preload.m = function() return {v = 1} end\n"
      "local m = require('m')\n"
      "local saved = package.searchers\n"
      "package.searchers = 5\n"
      "local ok, e = pcall(require, 'nothing')\n"
      "assert(not ok and e:find('must be a table'), e)\n"
      "local r, e2 = sys.reload('m') assert(r == nil and e2:find('must be a table'), e2)\n"
      "package.searchers = {5}\n"
      "r, e2 = sys.reload('m') assert(r == nil and e2:find('not a function'), e2)\n"
      "package.searchers = {function() return 42, 43 end, function() return {} end}\n"
      "r, e2 = sys.reload('m') assert(r == nil and e2:find('not found'), e2)\n"
      "package.searchers = {function() error(setmetatable({}, {__tostring = function() error('x') end})) end}\n"
      "r, e2 = sys.reload('m') assert(r == nil and type(e2) == 'string', e2)\n"
      "package.searchers = saved\n"
      "package.preload.m = function() return {v = 2, migrate = function() error({}) end} end\n"
      "r, e2 = sys.reload('m') assert(r == nil and e2:find('table value'), e2)\n"
      "assert(m.v == 1)\n"
      "package.preload.m = function() return {v = 3} end\n"
      "local pkg = package; package = nil\n"
      "assert(sys.reload('m') == true and m.v == 3)\n"
      "package = pkg\n"
      "setmetatable(package.loaded, {__index = function() error('meta') end})\n"
      "assert(sys.reload('m') == true)\n"
      "for k, v in pairs(m) do assert(k == 'v' and v == 3) end\n"
      "package.loaded[1] = 5; package.loaded.x = setmetatable({}, {__index = function() error('v') end})\n"
      "assert(sys.modules().x == true and sys.modules()[1] == nil)\n"
      "package.loaded.x = nil\n"
      "ok, e = pcall(package.searchers[2], {})\n"
      "assert(not ok and e:find('string expected'), e)\n"
      "assert(type(package.searchers[2]('nope')) == 'string')\n";
  fresh(true, "=untrusted", code);
  /* C code gets the one instance of a library, whatever _G holds. */
  lua_State *L = boot(true, 0);
  static const char clobber[] = "string = nil; math = 5; package.loaded.gpio = 7";
  CHECK(luaL_dostring(L, clobber) == LUA_OK);
  CHECK(modreg_push_module(L, "string") && lua_istable(L, -1));
  lua_getfield(L, -1, "rep");
  CHECK(lua_isfunction(L, -1));
  lua_pushliteral(L, "");
  CHECK(luaL_getmetafield(L, -1, "__index") == LUA_TTABLE && lua_rawequal(L, -1, -4));
  lua_settop(L, 0);
  CHECK(modreg_push_module(L, "gpio") && lua_istable(L, -1));
  CHECK(!modreg_push_module(L, "no.such") && lua_gettop(L) == 1);
  rt_close(L);
}

/* Reload from the loop (as --watch does: no task, no pcall around it) with
 * a full heap or a migrate that fails oddly: a message, never a PANIC. */
static void test_protected_reload(void) {
  lua_State *L = boot(true, 256 * 1024);
  static const char setup[] =
      "package.preload.w = function() return {migrate = function() error(\n"
      "  setmetatable({}, {__tostring = function() coroutine.yield() end})) end} end\n"
      "W = require('w')\n"
      "hog = {}\n";
  CHECK(luaL_loadbuffer(L, setup, sizeof setup - 1, "=setup") == LUA_OK && rt_pcall(L, 0, 0));
  int top = lua_gettop(L);
  CHECK(modreg_reload(L, "w") == 2);
  CHECK(lua_isnil(L, -2) && lua_type(L, -1) == LUA_TSTRING);
  CHECK(strstr(lua_tostring(L, -1), "__tostring failed") != NULL);
  lua_settop(L, top);
  /* Fill the heap, then reload with nothing left. */
  static const char fill[] = "local i = 0 while true do i = i + 1 hog[i] = {i} end";
  CHECK(luaL_loadbuffer(L, fill, sizeof fill - 1, "=fill") == LUA_OK);
  CHECK(!rt_pcall(L, 0, 0));
  lua_settop(L, top);
  int fails = 0;
  for (int i = 0; i < 50; i++) {
    int n = modreg_reload(L, "w");
    CHECK(n == 1 || n == 2);
    if (n == 2) {
      CHECK(lua_type(L, -1) == LUA_TSTRING);
      fails++;
    }
    lua_settop(L, top);
  }
  CHECK(fails > 0);
  rt_close(L);
}

/* Opening a lazy module in a full heap fails cleanly and leaves the
 * placeholder in place: the next use, with memory back, opens it. */
static void test_lazy_oom(void) {
  lua_State *L = boot(true, 64 * 1024);
  static const char code[] =
      "local m = math\n"
      "local function get() return m.floor end\n"
      "local hog\n" /* a list: small allocations only, so the heap ends up full */
      "local ok, e = pcall(function() while true do hog = {hog} end end)\n"
      "assert(not ok and e == 'not enough memory')\n"
      "local failed = 0\n"
      "for _ = 1, 20 do if not pcall(get) then failed = failed + 1 end end\n"
      "hog = nil; collectgarbage()\n"
      "assert(m.floor(2.5) == 2 and math == m and require('math') == m)\n"
      "assert(getmetatable(m) == nil)\n"
      "assert(failed > 0, 'the heap was not full')\n";
  CHECK(luaL_loadbuffer(L, code, sizeof code - 1, "=lazyoom") == LUA_OK);
  if (!rt_pcall(L, 0, 0)) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    CHECK(0);
  }
  rt_close(L);
}

/* The traceback handler reports any error value, never crashes. */
static int raise_arg(lua_State *L) { return lua_error(L); }

static void test_traceback(void) {
  lua_State *L = boot(false, 0);
  static const char code[] =
      "return setmetatable({}, {__tostring = function() error('in tostring') end}),\n"
      "  setmetatable({}, {__tostring = function() coroutine.yield() end}),\n"
      "  setmetatable({}, {__tostring = function() return 'custom' end}),\n"
      "  setmetatable({}, {__tostring = function() return {} end}),\n"
      "  ('x'):rep(1000000), 42, nil\n";
  CHECK(luaL_loadbuffer(L, code, sizeof code - 1, "=objs") == LUA_OK && rt_pcall(L, 0, 7));
  int base = lua_gettop(L) - 7;
  static const char *const expect[] = {"__tostring failed", "__tostring failed", "custom",
                                       "__tostring failed", "bytes in all", "42",
                                       "a nil value"};
  for (int i = 0; i < 7; i++) {
    lua_pushcfunction(L, raise_arg);
    lua_pushvalue(L, base + 1 + i);
    CHECK(!rt_pcall(L, 1, 0));
    const char *m = lua_tostring(L, -1);
    CHECK(m && strstr(m, expect[i]) && strstr(m, "stack traceback"));
    CHECK(strlen(m) < 4096);
    lua_pop(L, 1);
  }
  rt_close(L);
}

/* Booting in a heap too small for it fails cleanly (no PANIC), at every
 * size up to the one that works. */
static void test_boot_memory(void) {
  bool booted = false;
  for (size_t limit = 4096; limit <= 64 * 1024 && !booted; limit += 256) {
    lua_State *L = rt_open(limit);
    if (!L) continue;
    static modreg_config_t cfg; /* (no sched_init: it is not protected, sched's area) */
    memset(&cfg, 0, sizeof cfg);
    cfg.lazy_stdlib = true;
    booted = modreg_open(L, &cfg);
    if (!booted) CHECK(lua_type(L, -1) == LUA_TSTRING);
    rt_close(L);
  }
  CHECK(booted);
}

/* Reports of uncaught errors in coroutines (the scheduler's tasks): any
 * error value, and a full heap gives "not enough memory", never a PANIC. */
static void test_report(void) {
  lua_State *L = boot(true, 256 * 1024);
  static const char mk[] =
      "return function(v) error(v, 0) end, setmetatable({}, {__tostring = function() error('x') end}),\n"
      "  ('y'):rep(20000)\n";
  CHECK(luaL_loadbuffer(L, mk, sizeof mk - 1, "=mk") == LUA_OK && rt_pcall(L, 0, 3));
  static const char *const expect[] = {"__tostring failed", "bytes in all"};
  for (int i = 0; i < 2; i++) {
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, -4); /* the raising function */
    lua_pushvalue(L, -4 + i);
    lua_xmove(L, co, 2);
    int nres;
    CHECK(lua_resume(co, L, 1, &nres) == LUA_ERRRUN);
    int top = lua_gettop(L), cotop = lua_gettop(co);
    const char *r = rt_report(L, co, "task 7: ");
    CHECK(r && strncmp(r, "task 7: ", 8) == 0 && strstr(r, expect[i]) && strstr(r, "stack traceback"));
    CHECK(strlen(r) < 4096 && lua_gettop(L) == top + 1 && lua_gettop(co) == cotop);
    lua_settop(L, top - 1);
  }
  /* Full heap: fill it from a coroutine that then fails. */
  static const char fill[] = "local hog while true do hog = {hog} end";
  lua_State *co = lua_newthread(L);
  CHECK(luaL_loadbuffer(co, fill, sizeof fill - 1, "=fill") == LUA_OK);
  int nres;
  CHECK(lua_resume(co, L, 0, &nres) == LUA_ERRMEM);
  const char *r = rt_report(L, co, "task 8: ");
  CHECK(r != NULL); /* the report, or "not enough memory" */
  CHECK(strstr(r, "not enough memory"));
  rt_close(L);
}

/* rt_load and rt_loadfile (for app files) take text only. */
static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  return fwrite(p, 1, sz, ud) == sz ? 0 : 1;
}

static void test_bytecode(void) {
  lua_State *L = boot(false, 0);
  CHECK(rt_load(L, "return 1", 8, "=t"));
  FILE *f = tmpfile();
  CHECK(f && lua_dump(L, dump_writer, f, 0) == 0);
  long n = ftell(f);
  rewind(f);
  static char buf[4096];
  CHECK(n > 0 && n < (long)sizeof buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  lua_pop(L, 1);
  CHECK(!rt_load(L, buf, (size_t)n, "=b"));
  CHECK(strcmp(lua_tostring(L, -1), RT_BINARY_REFUSED) == 0);
  lua_pop(L, 1);
  char path[] = "/tmp/luaos_bc_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0 && write(fd, buf, (size_t)n) == (ssize_t)n);
  close(fd);
  CHECK(!rt_loadfile(L, path));
  CHECK(strstr(lua_tostring(L, -1), "binary chunk refused") && strstr(lua_tostring(L, -1), path));
  unlink(path);
  rt_close(L);
}

/* Lua warnings reach the console as log lines; @off/@on honoured. */
static void test_warnings(void) {
  lua_State *L = boot(true, 0);
  fflush(stdout);
  int saved = dup(1);
  FILE *tmp = tmpfile();
  CHECK(saved >= 0 && tmp);
  dup2(fileno(tmp), 1);
  static const char code[] =
      "setmetatable({}, {__gc = function() error('boom in gc') end}) collectgarbage()\n"
      "warn('plain ', 'pieces') warn('@off') warn('hidden') warn('@on') warn('back')\n"
      "log.level('lua', 'error') warn('filtered') log.level('lua', nil) warn('again')\n";
  bool ok = luaL_loadbuffer(L, code, sizeof code - 1, "=warn") == LUA_OK && rt_pcall(L, 0, 0);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  CHECK(ok);
  char out[1024] = {0};
  rewind(tmp);
  size_t n = fread(out, 1, sizeof out - 1, tmp);
  fclose(tmp);
  out[n] = '\0';
  CHECK(strstr(out, "W lua: error in __gc (warn:1: boom in gc)\n"));
  CHECK(strstr(out, "W lua: plain pieces\n"));
  CHECK(strstr(out, "W lua: back\n") && strstr(out, "W lua: again\n"));
  CHECK(!strstr(out, "hidden") && !strstr(out, "filtered"));
  rt_close(L);
}

int main(int argc, char **argv) {
  /* `test_core NAME` runs one of the hardening tests alone. */
  static const struct {
    const char *name;
    void (*fn)(void);
  } one[] = {{"lazy", test_lazy_semantics},   {"untrusted", test_untrusted_package},
             {"reload", test_protected_reload}, {"traceback", test_traceback},
             {"warnings", test_warnings},       {"bootmem", test_boot_memory},
             {"lazyoom", test_lazy_oom},       {"report", test_report},
             {"bytecode", test_bytecode},       {"closeintask", test_close_in_task},
             {NULL, NULL}};
  for (int i = 0; argc > 1 && one[i].name; i++)
    if (strcmp(argv[1], one[i].name) == 0) {
      one[i].fn();
      printf("core %s: ok\n", one[i].name);
      return 0;
    }
  test_nearest();
  test_argerror();
  run_script(false);
  run_script(true);
  test_memory_limit();
  for (int i = 0; one[i].name; i++) one[i].fn();
  test_task_oom();
  test_interrupts();
  test_time_saturates();
  printf("core: ok (pointer size %d)\n", (int)sizeof(void *));
  return 0;
}
