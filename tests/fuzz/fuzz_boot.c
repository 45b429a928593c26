#define _POSIX_C_SOURCE 200809L
#include "fuzz_boot.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "lauxlib.h"
#include "lualib.h"
#include "rt.h"

#ifndef LUAOS_SOURCE_DIR
#error "LUAOS_SOURCE_DIR must be defined by the build"
#endif

static struct {
  uint64_t steps;    /* Lua instructions this run (counted by the hook) */
  uint64_t deadline; /* wall clock (us) the run must end by */
  int over;          /* budget spent: unwind everything, stop the loop */
  rt_memstats_t *mem; /* the state's heap figures (its failed allocations) */
  size_t fails0;      /* failed allocations before this run */
  int quiet;
  int verbose; /* FUZZ_VERBOSE: uncaught task errors on stderr */
} FB;

#define FUZZ_HOOK_EVERY 1000

static uint64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool fuzz_over_budget(void) {
  if (!FB.over && (FB.steps > FUZZ_BUDGET || wall_us() > FB.deadline ||
                   (FB.mem && FB.mem->fails - FB.fails0 > FUZZ_OOM_MAX))) {
    FB.over = 1;
    sched_stop();
  }
  return FB.over;
}

/* Once over budget, the hook fires on every instruction of every thread
 * it meets and raises: a pcall that catches the error is left by its
 * caller's next instruction, so the whole thread unwinds. */
static void budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  int every = lua_gethookcount(L);
  FB.steps += (uint64_t)every;
  if (fuzz_over_budget()) {
    if (every != 1) lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "fuzz: budget spent");
  }
  if (every != FUZZ_HOOK_EVERY) /* a thread left over from an earlier run */
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, FUZZ_HOOK_EVERY);
}

/* Work that runs no Lua instruction (a C function as a timer callback)
 * passes here between rounds of the loop. */
static void budget_idle(lua_State *L, void *ud) {
  (void)L;
  (void)ud;
  fuzz_over_budget();
}

/* Take a library out of reach: loaded, preloaded and global. */
static void drop_lib(lua_State *L, const char *name) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushnil(L);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_newtable(L); /* an empty stand-in, so the lazy global finds it */
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  lua_setglobal(L, name);
  lua_pop(L, 1);
}

static void drop_field(lua_State *L, const char *lib, lua_CFunction open, const char *field) {
  luaL_requiref(L, lib, open, 1);
  lua_pushnil(L);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

/* A task's uncaught error is an expected outcome here, not the end. */
static bool keep_going(lua_State *L, void *ud) {
  (void)ud;
  if (FB.verbose) fprintf(stderr, "fuzz: task error: %s\n", lua_tostring(L, -1));
  /* Tasks that fail at once run too few instructions for the hook to look
   * at the clock: look here too. */
  fuzz_over_budget();
  return true;
}

static void fence(lua_State *L) {
  drop_field(L, LUA_OSLIBNAME, luaopen_os, "exit");
  drop_field(L, LUA_OSLIBNAME, luaopen_os, "execute");
  drop_field(L, LUA_OSLIBNAME, luaopen_os, "remove");
  drop_field(L, LUA_OSLIBNAME, luaopen_os, "rename");
  drop_field(L, LUA_OSLIBNAME, luaopen_os, "tmpname");
  drop_field(L, LUA_DBLIBNAME, luaopen_debug, "sethook");
  drop_field(L, LUA_DBLIBNAME, luaopen_debug, "debug");
  drop_field(L, LUA_LOADLIBNAME, luaopen_package, "loadlib");
  drop_lib(L, LUA_IOLIBNAME);
  /* No C modules from the system (they could do anything). */
  lua_getglobal(L, "package");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, FUZZ_HOOK_EVERY);
}

lua_State *fuzz_boot(size_t mem_limit, const char *app_dir) {
  if (!FB.quiet) {
    /* Generated code prints and logs; stdin must never block (dofile()). */
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "r", stdin)) abort();
    FB.quiet = 1;
    FB.verbose = getenv("FUZZ_VERBOSE") != NULL;
  }
  cli_opts_t o;
  cli_defaults(&o, "fuzz");
  o.board = LUAOS_SOURCE_DIR "/virtual-hw/boards/devkit.lua";
  o.virtual_time = true;
  o.no_devpath = app_dir == NULL;
  /* The cap is set after boot: the board and the fence need some heap. */
  lua_State *L = cli_boot(&o, app_dir);
  if (!L) return NULL;
  sched_set_error_handler(keep_going, NULL);
  sched_set_idle_hook(budget_idle, NULL);
  fence(L);
  FB.steps = 0;
  FB.over = 0;
  FB.deadline = wall_us() + FUZZ_WALL_US;
  FB.mem = rt_memstats(L);
  FB.fails0 = FB.mem->fails;
  if (mem_limit) FB.mem->limit = FB.mem->used + mem_limit;
  return L;
}

void fuzz_shutdown(lua_State *L) {
  FB.mem = NULL;
  rt_memstats(L)->limit = 0; /* closing must not fail for want of heap */
  cli_shutdown(L);
}

int fuzz_spawn(lua_State *L, const char *code, size_t len, const char *name) {
  if (luaL_loadbufferx(L, code, len, name, "t") != LUA_OK) {
    lua_pop(L, 1);
    return 0;
  }
  sched_spawn(L, 0);
  lua_pop(L, 1);
  return 1;
}

sched_result_t fuzz_run(lua_State *L, uint64_t us) {
  FB.steps = 0;
  FB.over = 0;
  FB.deadline = wall_us() + FUZZ_WALL_US;
  FB.mem = rt_memstats(L);
  FB.fails0 = FB.mem->fails;
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, FUZZ_HOOK_EVERY);
  sched_result_t r = sched_run(L, sched_now() + us);
  lua_settop(L, 0); /* an error message, if any */
  return r;
}
