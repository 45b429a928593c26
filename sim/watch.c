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

static void watch_tick(lua_State *L, sched_timer_t *t) {
  int top = lua_gettop(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &mtimes_key);
  int seen = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, MODREG_SOURCES);
  int sources = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, sources)) {
    const char *name = lua_tostring(L, -2);
    const char *file = lua_tostring(L, -1);
    double now = mtime_of(file);
    lua_getfield(L, seen, file);
    if (lua_isnil(L, -1)) {
      lua_pushnumber(L, now);
      lua_setfield(L, seen, file);
    } else if (lua_tonumber(L, -1) != now && now >= 0) {
      lua_pushnumber(L, now);
      lua_setfield(L, seen, file);
      int n = modreg_reload(L, name);
      if (n == 1)
        fprintf(stderr, "luaos: reloaded %s (%s)\n", name, file);
      else
        fprintf(stderr, "luaos: reload of %s failed, old version keeps running: %s\n", name,
                lua_tostring(L, -1));
      lua_pop(L, n);
    }
    lua_pop(L, 2);
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
