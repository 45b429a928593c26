/* timer: after(ms, fn), every(ms, fn); callbacks run as tasks. */
#include <stddef.h>
#include <string.h>

#include "lauxlib.h"
#include "modreg.h"
#include "luaos.h"
#include "sched.h"

#define TIMER_MT "luaos.timer"

typedef struct {
  sched_timer_t st; /* first: the loop hands us this pointer */
  uint64_t period;  /* 0: one-shot */
  uint64_t due;
  int ref;          /* anchors the handle while armed */
  uint32_t fired;
} ltimer_t;

static void ltimer_disarm(lua_State *L, ltimer_t *t) {
  sched_timer_stop(&t->st);
  if (t->ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
    t->ref = LUA_NOREF;
    sched_ref(-1);
  }
}

static void ltimer_fire(lua_State *L, sched_timer_t *st) {
  ltimer_t *t = (ltimer_t *)st;
  int ref = t->ref;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref); /* handle */
  t->fired++;
  if (t->period) {
    /* Next due time from the schedule, not from now: no drift. */
    t->due += t->period;
    if (t->due <= sched_now()) t->due = sched_now() + t->period; /* we fell behind */
    sched_timer_start(&t->st, t->due);
  } else {
    ltimer_disarm(L, t);
  }
  lua_getiuservalue(L, -1, 1);
  lua_insert(L, -2);
  sched_spawn(L, 1); /* fn(handle) in a new task */
  lua_pop(L, 1);
}

static int arm(lua_State *L, bool periodic) {
  uint64_t us = luaos_check_ms(L, 1);
  if (!lua_isfunction(L, 2)) /* timer.after(ms, tick()) is the common slip */
    luaos_argerror(L, 2, lua_pushfstring(L, "function expected, got %s%s", luaL_typename(L, 2),
                                         LUAOS_FN_HINT));
  if (periodic && us == 0) luaos_argerror(L, 1, "period must be > 0 ms");
  ltimer_t *t = lua_newuserdatauv(L, sizeof *t, 1);
  memset(&t->st.tw, 0, sizeof t->st.tw); /* idle */
  t->st.fn = ltimer_fire;
  t->period = periodic ? us : 0;
  t->fired = 0;
  t->due = sched_now() + us;
  luaL_setmetatable(L, TIMER_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sched_ref(1);
  sched_timer_start(&t->st, t->due);
  return 1;
}

static ltimer_t *check_timer(lua_State *L) {
  return luaos_checkudata(L, 1, TIMER_MT, "timer");
}

static int timer_after(lua_State *L) { return arm(L, false); }
static int timer_every(lua_State *L) { return arm(L, true); }

static int t_cancel(lua_State *L) {
  ltimer_disarm(L, check_timer(L));
  return 0;
}

static int t_active(lua_State *L) {
  ltimer_t *t = check_timer(L);
  lua_pushboolean(L, t->ref != LUA_NOREF);
  return 1;
}

static int t_count(lua_State *L) {
  lua_pushinteger(L, ((ltimer_t *)check_timer(L))->fired);
  return 1;
}

static int t_gc(lua_State *L) {
  ltimer_t *t = check_timer(L);
  sched_timer_stop(&t->st); /* only reachable when disarmed; be safe */
  return 0;
}

static int t_tostring(lua_State *L) {
  ltimer_t *t = check_timer(L);
  lua_pushfstring(L, "timer (%s, %s)", t->period ? "every" : "after",
                  t->ref != LUA_NOREF ? "active" : "inactive");
  return 1;
}

int luaopen_timer(lua_State *L) {
  static const luaL_Reg f[] = {{"after", timer_after}, {"every", timer_every}, {NULL, NULL}};
  static const luaL_Reg m[] = {{"cancel", t_cancel}, {"active", t_active}, {"count", t_count},
                               {NULL, NULL}};
  luaL_newmetatable(L, TIMER_MT);
  lua_pushliteral(L, "h"); /* methods are named h:cancel in messages, as in the docs */
  lua_setfield(L, -2, "__docname");
  luaL_newlib(L, m);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, t_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, t_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newlib(L, f);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
