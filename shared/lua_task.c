/* task: spawn, sleep, yield, wait/signal, channels, task handles. */
#include <stddef.h>
#include <string.h>

#include "lauxlib.h"
#include "modreg.h"
#include "luaos.h"
#include "sched.h"

/* Argument errors name functions as the docs do (shared/luaos.h). */
#define ARGCHECK(L, cond, arg, msg) ((void)((cond) || luaos_argerror((L), (arg), (msg))))
#define CHECKANY(L, arg) ((void)(!lua_isnone((L), (arg)) || luaos_argerror((L), (arg), "value expected")))

#define CHANNEL_MT "luaos.channel"
#define TASK_BUDGET_MIN 100000

static sched_task_t *check_task(lua_State *L, int arg) {
  return luaos_checkudata(L, arg, SCHED_TASK_MT, "task");
}

static int task_spawn(lua_State *L) {
  if (lua_type(L, 1) != LUA_TFUNCTION) {
    /* The usual mistake is task.spawn(f()) instead of task.spawn(f). */
    const char *msg = lua_pushfstring(L, "function expected, got %s; pass the function itself: "
                                         "task.spawn(f), not task.spawn(f())",
                                      luaL_typename(L, 1));
    return luaos_argerror(L, 1, msg);
  }
  sched_spawn(L, lua_gettop(L) - 1);
  return 1;
}

/* budget([instructions]) -> previous: the per-resume instruction budget. */
static int task_budget(lua_State *L) {
  uint32_t prev = sched_budget();
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer n = luaos_checkinteger(L, 1);
    /* Tiny budgets would stop ordinary code between two yields. */
    ARGCHECK(L, n == 0 || (n >= TASK_BUDGET_MIN && n <= INT32_MAX), 1,
                  "budget must be 0 (off) or 100000 .. 2147483647 instructions");
    sched_set_budget((uint32_t)n);
  }
  lua_pushinteger(L, (lua_Integer)prev);
  return 1;
}

static int task_sleep(lua_State *L) {
  uint64_t us = luaos_check_ms(L, 1);
  return sched_sleep(L, us);
}

static int task_yield(lua_State *L) { return sched_task_yield(L); }

static int check_key(lua_State *L, int arg) {
  CHECKANY(L, arg);
  ARGCHECK(L, !lua_isnil(L, arg), arg, "event must not be nil");
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, arg);
    ARGCHECK(L, n == n, arg, "event must not be NaN");
  }
  return arg;
}

/* wait(event [, timeout_ms]) -> signalled values (true if none) | nil, "timeout" */
static int task_wait(lua_State *L) {
  check_key(L, 1);
  uint64_t timeout = luaos_opt_ms(L, 2, UINT64_MAX);
  if (timeout == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  lua_settop(L, 1);
  return sched_wait(L, 1, timeout, 0, NULL, "task.wait");
}

/* signal(event, ...) -> number of tasks woken */
static int task_signal(lua_State *L) {
  check_key(L, 1);
  int n = sched_signal(L, 1, lua_gettop(L) - 1);
  lua_pushinteger(L, n);
  return 1;
}

static int task_current(lua_State *L) {
  sched_task_t *t = sched_current(L);
  if (!t || !sched_push_task(L, t)) return 0;
  return 1;
}

static int task_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)sched_task_count());
  return 1;
}

/* ---- task handle ---- */

static int t_cancel(lua_State *L) {
  sched_task_t *t = check_task(L, 1);
  ARGCHECK(L, sched_current(L) != t, 1, "a task cannot cancel itself; return instead");
  sched_cancel(L, t, 1);
  return 0;
}

static int t_status(lua_State *L) {
  lua_pushstring(L, sched_task_status(check_task(L, 1)));
  return 1;
}

static int t_id(lua_State *L) {
  lua_pushinteger(L, sched_task_id(check_task(L, 1)));
  return 1;
}

static int t_join_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (sched_task_dead(lua_touserdata(L, 1))) {
    lua_settop(L, 1);
    return sched_push_results(L, 1);
  }
  return lua_gettop(L) - 1; /* nil, "timeout" */
}

/* join([timeout_ms]) -> true, results... | nil, error | nil, "timeout" */
static int t_join(lua_State *L) {
  sched_task_t *t = check_task(L, 1);
  uint64_t timeout = luaos_opt_ms(L, 2, UINT64_MAX);
  lua_settop(L, 1);
  if (sched_task_dead(t)) return sched_push_results(L, 1);
  ARGCHECK(L, sched_current(L) != t, 1, "a task cannot join itself");
  if (timeout == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  return sched_join(L, 1, timeout, 0, t_join_k);
}

static int t_tostring(lua_State *L) {
  sched_task_t *t = check_task(L, 1);
  lua_pushfstring(L, "task %d (%s)", (int)sched_task_id(t), sched_task_status(t));
  return 1;
}

/* ---- channels ---- */

typedef struct {
  lua_Integer head, count, cap, size; /* ring of size = cap + 1 slots */
  int closed;
  int bufref;                 /* registry ref to the ring (for put-back) */
  sched_waitq_t recvq, sendq; /* parked receivers / senders */
} channel_t;

/* Uservalue 1: the ring buffer table. Parked tasks hold the channel on
 * their stacks (argument 1), so its queues outlive their waiters. A value
 * handed straight to a parked receiver that is then cancelled before it
 * runs comes back to the head of the ring (the spare slot is for that). */

static channel_t *check_channel(lua_State *L, int arg) {
  channel_t *c = lua_touserdata(L, arg);
  if (c && lua_getmetatable(L, arg)) {
    int ours = lua_topointer(L, -1) == lua_topointer(L, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (ours) return c;
  }
  return luaos_checkudata(L, arg, CHANNEL_MT, "channel");
}

static void ch_undelivered(lua_State *L, sched_waitq_t *q) {
  channel_t *c = (channel_t *)((char *)q - offsetof(channel_t, recvq));
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->bufref);
  c->head = (c->head + c->size - 1) % c->size;
  lua_insert(L, -2);
  lua_rawseti(L, -2, c->head + 1);
  lua_pop(L, 1);
  c->count++;
  sched_wake(&c->recvq, 1);
}

static int task_channel(lua_State *L) {
  lua_Integer cap = lua_isnoneornil(L, 1) ? 1 : luaos_checkinteger(L, 1);
  ARGCHECK(L, cap >= 1 && cap <= 1000000, 1, "capacity must be 1..1000000");
  channel_t *c = lua_newuserdatauv(L, sizeof *c, 1);
  memset(c, 0, sizeof *c);
  c->bufref = LUA_NOREF;
  c->cap = cap;
  c->size = cap + 1;
  c->recvq.undelivered = ch_undelivered;
  luaL_setmetatable(L, CHANNEL_MT);
  lua_createtable(L, (int)(cap < 64 ? cap + 1 : 64), 0);
  lua_pushvalue(L, -1);
  c->bufref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

static int ch_gc(lua_State *L) {
  channel_t *c = lua_touserdata(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, c->bufref);
  c->bufref = LUA_NOREF;
  return 0;
}

/* Timeout bookkeeping lives on the C stack frame, which survives yields:
 * with a timeout, the slot after the arguments (`ctx` = its index) holds
 * the absolute deadline (integer us); ctx 0: no timeout, no slot. */
static bool deadline_passed(lua_State *L, lua_KContext ctx, uint64_t *left) {
  if (!ctx) {
    *left = UINT64_MAX;
    return false;
  }
  lua_Integer dl = lua_tointeger(L, (int)ctx);
  uint64_t now = sched_now();
  if ((uint64_t)dl <= now) return true;
  *left = (uint64_t)dl - now;
  return false;
}

/* Replace the timeout at `arg` by its deadline (checked before anything
 * happens); returns the ctx for the continuation: `arg`, or 0 without one. */
static lua_KContext fix_deadline(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg)) {
    lua_settop(L, arg - 1);
    return 0;
  }
  uint64_t t = luaos_opt_ms(L, arg, UINT64_MAX);
  lua_settop(L, arg - 1);
  /* saturating: durations are clamped far below this */
  lua_pushinteger(L, (lua_Integer)(sched_now() > (uint64_t)INT64_MAX - t ? INT64_MAX
                                                                           : sched_now() + t));
  return arg;
}

/* Send/recv try without blocking first, touching the Lua stack as little
 * as possible (the hot path of every channel). */

static int ch_send_k(lua_State *L, int status, lua_KContext ctx);

/* Result count when done, 0: must wait. Value at index 2. */
static int ch_try_send(lua_State *L, channel_t *c) {
  if (c->closed) { /* also wakes blocked senders when the channel closes */
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
  }
  /* Empty with a receiver parked: hand the value over directly (one task
   * switch per value instead of two). */
  if (c->count == 0 && !sched_waitq_empty(&c->recvq)) {
    lua_pushvalue(L, 2);
    if (sched_hand(L, &c->recvq)) {
      lua_pushboolean(L, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  if (c->count < c->cap) {
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, (c->head + c->count) % c->size + 1);
    c->count++;
    if (!sched_waitq_empty(&c->recvq)) sched_wake(&c->recvq, 1);
    lua_pushboolean(L, 1);
    return 1;
  }
  return 0;
}

static int ch_send_wait(lua_State *L, channel_t *c, lua_KContext ctx) {
  uint64_t left;
  if (deadline_passed(L, ctx, &left) || left == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  return sched_wait_on(L, &c->sendq, left, ctx, ch_send_k, "channel:send");
}

static int ch_send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  channel_t *c = lua_touserdata(L, 1);
  lua_settop(L, ctx ? 3 : 2);
  int n = ch_try_send(L, c);
  return n ? n : ch_send_wait(L, c, ctx);
}

/* ch:send(value [, timeout_ms]) -> true | nil, "timeout" | nil, "closed" */
static int ch_send(lua_State *L) {
  channel_t *c = check_channel(L, 1);
  if (lua_type(L, 2) <= LUA_TNIL)
    return luaos_argerror(L, 2, lua_isnone(L, 2) ? "value expected" : "cannot send nil");
  lua_KContext ctx = lua_gettop(L) >= 3 ? fix_deadline(L, 3) : 0;
  int n = ch_try_send(L, c);
  return n ? n : ch_send_wait(L, c, ctx);
}

static int ch_recv_k(lua_State *L, int status, lua_KContext ctx);

static int ch_try_recv(lua_State *L, channel_t *c) {
  if (c->count > 0) {
    lua_getiuservalue(L, 1, 1);
    lua_rawgeti(L, -1, c->head + 1);
    lua_pushnil(L);
    lua_rawseti(L, -3, c->head + 1);
    c->head = (c->head + 1) % c->size;
    c->count--;
    if (!sched_waitq_empty(&c->sendq)) sched_wake(&c->sendq, 1);
    return 1;
  }
  if (c->closed) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
  }
  return 0;
}

static int ch_recv_wait(lua_State *L, channel_t *c, lua_KContext ctx) {
  uint64_t left;
  if (deadline_passed(L, ctx, &left) || left == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  return sched_wait_on(L, &c->recvq, left, ctx, ch_recv_k, "channel:recv");
}

/* Resumed with one value: handed over by a sender (sched_hand). With none
 * (woken to look again) or two (nil, "timeout"): try again. */
static int ch_recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int base = ctx ? 2 : 1;
  if (lua_gettop(L) == base + 1) return 1;
  channel_t *c = lua_touserdata(L, 1);
  lua_settop(L, base);
  int n = ch_try_recv(L, c);
  return n ? n : ch_recv_wait(L, c, ctx);
}

/* ch:recv([timeout_ms]) -> value | nil, "timeout" | nil, "closed" */
static int ch_recv(lua_State *L) {
  channel_t *c = check_channel(L, 1);
  lua_KContext ctx = lua_gettop(L) >= 2 ? fix_deadline(L, 2) : 0;
  int n = ch_try_recv(L, c);
  return n ? n : ch_recv_wait(L, c, ctx);
}

static int ch_len(lua_State *L) {
  lua_pushinteger(L, check_channel(L, 1)->count);
  return 1;
}

static int ch_close(lua_State *L) {
  channel_t *c = check_channel(L, 1);
  c->closed = 1;
  sched_wake(&c->recvq, -1);
  sched_wake(&c->sendq, -1);
  return 0;
}


static int ch_tostring(lua_State *L) {
  channel_t *c = check_channel(L, 1);
  lua_pushfstring(L, "channel (%d/%d%s)", (int)c->count, (int)c->cap,
                  c->closed ? ", closed" : "");
  return 1;
}

int luaopen_task(lua_State *L) {
  static const luaL_Reg f[] = {{"spawn", task_spawn},     {"sleep", task_sleep},
                               {"yield", task_yield},     {"wait", task_wait},
                               {"signal", task_signal},   {"current", task_current},
                               {"count", task_count},     {"channel", task_channel},
                               {"budget", task_budget},
                               {NULL, NULL}};
  static const luaL_Reg tm[] = {{"cancel", t_cancel}, {"status", t_status}, {"id", t_id},
                                {"join", t_join},     {NULL, NULL}};
  static const luaL_Reg cm[] = {{"send", ch_send}, {"recv", ch_recv}, {"close", ch_close},
                                {NULL, NULL}};
  luaL_newmetatable(L, SCHED_TASK_MT);
  lua_pushliteral(L, "t"); /* errors say 't:join', as docs/task.md does */
  lua_setfield(L, -2, "__docname");
  luaL_newlib(L, tm);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, t_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  /* Channel functions carry the metatable as upvalue 1: checking `self`
   * is a pointer compare, not a registry lookup by name (hot path). */
  static const luaL_Reg cmeta[] = {{"__len", ch_len}, {"__tostring", ch_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, CHANNEL_MT);
  int mt = lua_gettop(L);
  lua_pushliteral(L, "ch");
  lua_setfield(L, mt, "__docname");
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, mt);
  luaL_setfuncs(L, cm, 1);
  lua_setfield(L, mt, "__index");
  lua_pushvalue(L, mt);
  luaL_setfuncs(L, cmeta, 1);
  lua_pushcfunction(L, ch_gc);
  lua_setfield(L, mt, "__gc");
  lua_pop(L, 1);
  luaL_newlib(L, f);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
