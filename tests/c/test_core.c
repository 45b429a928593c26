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

int main(void) {
  test_nearest();
  run_script(false);
  run_script(true);
  test_memory_limit();
  test_task_oom();
  test_interrupts();
  test_time_saturates();
  printf("core: ok (pointer size %d)\n", (int)sizeof(void *));
  return 0;
}
