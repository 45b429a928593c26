/* --watch: poll the files modules were loaded from and hot-reload the ones
 * that changed (sys.reload semantics: a failing new version leaves the old
 * one running). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "lauxlib.h"
#include "modreg.h"
#include "sched.h"

#define WATCH_PERIOD_US 300000

static struct {
  sched_timer_t timer;
  bool started;
} W;

static const char mtimes_key = 'm'; /* registry: file -> mtime seen */

static double mtime_of(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  return (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
}

/* Runs protected (watch_tick): a full heap or anything odd in the tables
 * is an error message, never an abort of the loop. */
static int watch_scan(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &mtimes_key);
  int seen = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, MODREG_SOURCES);
  int sources = lua_gettop(L);
  if (!lua_istable(L, seen) || !lua_istable(L, sources)) return 0;
  /* Changed modules first, reloads after: a reload may require new
   * modules, adding keys to `sources`, which lua_next must not see. */
  lua_newtable(L);
  int changed = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, sources)) {
    /* lua_tostring on a number key would break lua_next: strings only */
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      continue;
    }
    const char *file = lua_tostring(L, -1);
    double now = mtime_of(file);
    lua_getfield(L, seen, file);
    if (lua_isnil(L, -1)) {
      lua_pushnumber(L, now);
      lua_setfield(L, seen, file);
    } else if (lua_tonumber(L, -1) != now && now >= 0) {
      lua_pushnumber(L, now);
      lua_setfield(L, seen, file);
      lua_pushvalue(L, -3);
      lua_pushvalue(L, -3);
      lua_rawset(L, changed); /* name -> file */
    }
    lua_pop(L, 2);
  }
  lua_pushnil(L);
  while (lua_next(L, changed)) {
    const char *name = lua_tostring(L, -2);
    const char *file = lua_tostring(L, -1);
    int n = modreg_reload(L, name);
    if (n == 1)
      fprintf(stderr, "luaos: reloaded %s (%s)\n", name, file);
    else
      fprintf(stderr, "luaos: reload of %s failed, old version keeps running: %s\n", name,
              n == 2 && lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no message)");
    lua_pop(L, n + 1);
  }
  return 0;
}

static void watch_tick(lua_State *L, sched_timer_t *t) {
  int top = lua_gettop(L);
  if (lua_checkstack(L, 2)) {
    lua_pushcfunction(L, watch_scan);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
      fprintf(stderr, "luaos: watch: %s\n",
              lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error");
  }
  lua_settop(L, top);
  sched_timer_start(t, sched_now() + WATCH_PERIOD_US);
}

void watch_start(lua_State *L, const char *app) {
  (void)app;
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &mtimes_key);
  W.timer.fn = watch_tick;
  W.started = true;
  sched_timer_start(&W.timer, sched_now() + WATCH_PERIOD_US);
  sched_ref(1); /* watching keeps the run going until stopped */
}
