#include "sched.h"

#include <stddef.h>
#include <string.h>

#include "hal/hal_clock.h"
#include "lauxlib.h"

enum { T_READY, T_RUNNING, T_SLEEPING, T_WAITING, T_DEAD };
static const char *const task_status_names[] = {"ready", "running", "sleeping", "waiting",
                                                "dead"};

/* Uservalue slots of a task object. */
enum { UV_THREAD = 1, UV_WAITKEY = 2, UV_RESULT = 3, UV_COUNT = 3 };

struct sched_task {
  lua_State *co;
  sched_task_t *next; /* run queue */
  sched_timer_t timer; /* sleep / wait timeout */
  int ref;            /* registry ref keeping the task alive, or LUA_NOREF */
  int nresume;        /* values pushed on co for its next resume */
  uint32_t id;
  uint8_t state;
  uint8_t cancelled;
};

#define SCHED_MAX_SOURCES 8
/* Tasks run per round before the loop looks at the clock and the rings:
 * bounds latency while keeping a task switch free of clock reads. */
#define SCHED_BATCH 64

static struct {
  bool virtual_time;
  bool stop;
  uint64_t now;
  tw_t wheel;
  sched_task_t *rq_head, *rq_tail;
  sched_task_t *current;
  uint32_t ntasks;   /* alive tasks */
  uint32_t next_id;
  int refs;
  int nsources;
  struct {
    evring_t *ring;
    sched_source_fn fn;
    void *ud;
  } sources[SCHED_MAX_SOURCES];
  sched_error_fn on_error;
  void *on_error_ud;
  void (*idle_hook)(lua_State *L, void *ud);
  void *idle_ud;
  lua_State *main;
} S;

/* Registry keys (addresses are unique). */
static const char waiters_key = 'w'; /* event key -> { task, ... } */

/* ---- helpers ---- */

static sched_task_t *task_from_timer(sched_timer_t *tm) {
  return (sched_task_t *)((char *)tm - offsetof(sched_task_t, timer));
}

static void rq_push(sched_task_t *t) {
  t->state = T_READY;
  t->next = NULL;
  if (S.rq_tail)
    S.rq_tail->next = t;
  else
    S.rq_head = t;
  S.rq_tail = t;
}

static sched_task_t *rq_pop(void) {
  sched_task_t *t = S.rq_head;
  if (t) {
    S.rq_head = t->next;
    if (!S.rq_head) S.rq_tail = NULL;
    t->next = NULL;
  }
  return t;
}

static void push_task(lua_State *L, sched_task_t *t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
}

/* Remove task (at stack index tidx) from the waiter list of its key. */
static void unwait(lua_State *L, sched_task_t *t, int tidx) {
  tidx = lua_absindex(L, tidx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &waiters_key);
  lua_getiuservalue(L, tidx, UV_WAITKEY);
  if (lua_rawget(L, -2) == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      bool me = lua_touserdata(L, -1) == (void *)t;
      lua_pop(L, 1);
      if (me) {
        /* Keep the order of the others: first come, first served. */
        for (lua_Integer j = i; j < n; j++) {
          lua_rawgeti(L, -1, j + 1);
          lua_rawseti(L, -2, j);
        }
        lua_pushnil(L);
        lua_rawseti(L, -2, n);
        if (n == 1) {
          lua_getiuservalue(L, tidx, UV_WAITKEY);
          lua_pushnil(L);
          lua_rawset(L, -4);
        }
        break;
      }
    }
  }
  lua_pop(L, 2);
  lua_pushnil(L);
  lua_setiuservalue(L, tidx, UV_WAITKEY);
}

static void finish_task(lua_State *L, sched_task_t *t, int nres, int ok) {
  /* Results (or the error) go to the task's result slot and to joiners. */
  push_task(L, t);
  int tidx = lua_gettop(L);
  lua_createtable(L, nres + 1, 0);
  if (ok) {
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, 1);
    for (int i = 1; i <= nres; i++) {
      lua_pushvalue(t->co, -nres + i - 1);
      lua_xmove(t->co, L, 1);
      lua_rawseti(L, -2, i + 1);
    }
    lua_pushinteger(L, nres + 1);
    lua_setfield(L, -2, "n");
  } else {
    lua_pushnil(L);
    lua_rawseti(L, -2, 1);
    lua_xmove(t->co, L, 1); /* error value */
    lua_rawseti(L, -2, 2);
    lua_pushinteger(L, 2);
    lua_setfield(L, -2, "n");
  }
  lua_setiuservalue(L, tidx, UV_RESULT);
  t->state = T_DEAD;
  tw_cancel(&S.wheel, &t->timer.tw);
  S.ntasks--;
  /* Wake joiners with the stored results. */
  lua_getiuservalue(L, tidx, UV_RESULT);
  int rt = lua_gettop(L);
  lua_getfield(L, rt, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  for (int i = 1; i <= n; i++) lua_rawgeti(L, rt, i);
  sched_signal(L, tidx, n);
  lua_settop(L, tidx - 1);
  luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
  t->ref = LUA_NOREF;
  /* The thread's stack is no longer needed; let the GC take it. */
  lua_settop(t->co, 0);
}

static bool report_error(lua_State *L) {
  if (S.on_error) return S.on_error(L, S.on_error_ud);
  return false;
}

/* Run one task; returns false when an uncaught error should stop the loop
 * (the traceback is then on top of L). */
static bool run_task(lua_State *L, sched_task_t *t) {
  int nres = 0;
  int n = t->nresume;
  t->nresume = 0;
  t->state = T_RUNNING;
  S.current = t;
  int st = lua_resume(t->co, L, n, &nres);
  S.current = NULL;
  if (st == LUA_YIELD) {
    lua_pop(t->co, nres);
    /* A bare coroutine.yield() in a task body acts like task.yield(). */
    if (t->state == T_RUNNING) rq_push(t);
    return true;
  }
  if (st == LUA_OK) {
    finish_task(L, t, nres, 1);
    return true;
  }
  /* Error: build the traceback from the dead coroutine's stack. */
  const char *msg = lua_tostring(t->co, -1);
  if (!msg) msg = luaL_typename(t->co, -1);
  luaL_traceback(L, t->co, msg, 0);
  lua_pushfstring(L, "task %d: %s", (int)t->id, lua_tostring(L, -1));
  lua_remove(L, -2);
  lua_xmove(L, t->co, 1);
  lua_remove(t->co, -2);
  lua_pushvalue(t->co, -1);
  lua_xmove(t->co, L, 1); /* keep a copy for the error handler */
  int top = lua_gettop(L);
  finish_task(L, t, 0, 0);
  lua_settop(L, top);
  if (report_error(L)) {
    lua_pop(L, 1);
    return true;
  }
  return false;
}

/* A task's sleep or wait timeout expired. */
static void task_timer_fired(lua_State *L, sched_timer_t *tm) {
  sched_task_t *t = task_from_timer(tm);
  if (t->state == T_SLEEPING) {
    rq_push(t);
  } else if (t->state == T_WAITING) {
    push_task(L, t);
    unwait(L, t, -1);
    lua_pop(L, 1);
    lua_pushnil(t->co);
    lua_pushliteral(t->co, "timeout");
    t->nresume = 2;
    rq_push(t);
  }
}

static void fire_timers(lua_State *L) {
  tw_timer_t *tw;
  while ((tw = tw_pop_expired(&S.wheel)) != NULL) {
    sched_timer_t *tm = (sched_timer_t *)tw;
    tm->fn(L, tm);
  }
}

static void drain_sources(lua_State *L) {
  for (int i = 0; i < S.nsources; i++) {
    evring_event_t ev;
    while (evring_get(S.sources[i].ring, &ev)) S.sources[i].fn(L, &ev, S.sources[i].ud);
  }
}

static bool sources_pending(void) {
  for (int i = 0; i < S.nsources; i++)
    if (!evring_empty(S.sources[i].ring)) return true;
  return false;
}

static void set_now(uint64_t now) {
  if (now > S.now) S.now = now;
  tw_advance(&S.wheel, S.now);
}

/* ---- public ---- */

void sched_init(lua_State *L, bool virtual_time) {
  memset(&S, 0, sizeof S);
  S.virtual_time = virtual_time;
  S.now = virtual_time ? 0 : hal_clock_us();
  S.main = L;
  S.next_id = 1;
  tw_init(&S.wheel, S.now);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &waiters_key);
  /* The task module fills in the methods; spawning works before it loads. */
  luaL_newmetatable(L, SCHED_TASK_MT);
  lua_pop(L, 1);
}

bool sched_push_task(lua_State *L, sched_task_t *t) {
  if (t->ref == LUA_NOREF) return false;
  push_task(L, t);
  return true;
}

bool sched_virtual(void) { return S.virtual_time; }
uint64_t sched_now(void) { return S.now; }
void sched_stop(void) { S.stop = true; }
void sched_ref(int delta) { S.refs += delta; }
uint32_t sched_task_count(void) { return S.ntasks; }
uint32_t sched_task_id(const sched_task_t *t) { return t->id; }
const char *sched_task_status(const sched_task_t *t) { return task_status_names[t->state]; }

void sched_set_error_handler(sched_error_fn fn, void *ud) {
  S.on_error = fn;
  S.on_error_ud = ud;
}

void sched_add_source(evring_t *ring, sched_source_fn fn, void *ud) {
  if (S.nsources >= SCHED_MAX_SOURCES) hal_panic("sched: too many event sources");
  S.sources[S.nsources].ring = ring;
  S.sources[S.nsources].fn = fn;
  S.sources[S.nsources].ud = ud;
  S.nsources++;
}

void sched_set_idle_hook(void (*fn)(lua_State *L, void *ud), void *ud) {
  S.idle_hook = fn;
  S.idle_ud = ud;
}

void sched_timer_start(sched_timer_t *t, uint64_t at_us) { tw_add(&S.wheel, &t->tw, at_us); }
void sched_timer_stop(sched_timer_t *t) { tw_cancel(&S.wheel, &t->tw); }

sched_task_t *sched_spawn(lua_State *L, int nargs) {
  int fidx = lua_gettop(L) - nargs;
  sched_task_t *t = lua_newuserdatauv(L, sizeof *t, UV_COUNT);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, SCHED_TASK_MT);
  t->co = lua_newthread(L);
  lua_setiuservalue(L, -2, UV_THREAD);
  t->id = S.next_id++;
  t->timer.fn = task_timer_fired;
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  /* Move function and arguments onto the new coroutine. */
  lua_insert(L, fidx); /* task object below the function */
  lua_xmove(L, t->co, nargs + 1);
  t->nresume = nargs;
  S.ntasks++;
  rq_push(t);
  return t;
}

sched_task_t *sched_current(lua_State *L) {
  return (S.current && S.current->co == L) ? S.current : NULL;
}

sched_task_t *sched_check_task(lua_State *L, const char *what) {
  /* Check before touching any state: a yield that then fails (inside a
   * table.sort comparator, a gsub callback...) must leave the task as it was. */
  if (!lua_isyieldable(L) && sched_current(L))
    luaL_error(L, "%s: cannot block inside a C callback (table.sort, string.gsub ...)", what);
  sched_task_t *t = sched_current(L);
  if (!t) {
    if (S.current)
      luaL_error(L, "%s: called from a plain coroutine inside a task; use task.spawn", what);
    else
      luaL_error(L, "%s: must be called from a task (the app, a task.spawn function, "
                    "a timer or an interrupt handler)", what);
  }
  return t;
}

int sched_task_yield(lua_State *L) {
  sched_task_t *t = sched_check_task(L, "task.yield");
  rq_push(t);
  return lua_yield(L, 0);
}

int sched_sleep(lua_State *L, uint64_t us) {
  sched_task_t *t = sched_check_task(L, "task.sleep");
  t->state = T_SLEEPING;
  tw_add(&S.wheel, &t->timer.tw, S.now + us);
  return lua_yield(L, 0);
}

int sched_wait(lua_State *L, int key_idx, uint64_t timeout_us, lua_KContext ctx,
               lua_KFunction k, const char *what) {
  sched_task_t *t = sched_check_task(L, what);
  key_idx = lua_absindex(L, key_idx);
  /* Append to the key's waiter list. */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &waiters_key);
  lua_pushvalue(L, key_idx);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, key_idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  push_task(L, t);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 2);
  push_task(L, t);
  lua_pushvalue(L, key_idx);
  lua_setiuservalue(L, -2, UV_WAITKEY);
  lua_pop(L, 1);
  t->state = T_WAITING;
  if (timeout_us != UINT64_MAX) tw_add(&S.wheel, &t->timer.tw, S.now + timeout_us);
  if (k) return lua_yieldk(L, 0, ctx, k);
  return lua_yield(L, 0);
}

int sched_signal(lua_State *L, int key_idx, int nvals) {
  key_idx = lua_absindex(L, key_idx);
  int first = lua_gettop(L) - nvals + 1;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &waiters_key);
  lua_pushvalue(L, key_idx);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 2);
    return 0;
  }
  /* Detach the list first: a woken task may wait on the same key again. */
  lua_pushvalue(L, key_idx);
  lua_pushnil(L);
  lua_rawset(L, -4);
  int list = lua_gettop(L);
  int n = (int)lua_rawlen(L, list);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    sched_task_t *t = lua_touserdata(L, -1);
    lua_pushnil(L);
    lua_setiuservalue(L, -2, UV_WAITKEY);
    lua_pop(L, 1);
    tw_cancel(&S.wheel, &t->timer.tw);
    if (nvals == 0) {
      lua_pushboolean(t->co, 1);
      t->nresume = 1;
    } else {
      for (int v = 0; v < nvals; v++) lua_pushvalue(L, first + v);
      lua_xmove(L, t->co, nvals);
      t->nresume = nvals;
    }
    rq_push(t);
  }
  lua_pop(L, 2);
  return n;
}

void sched_cancel(lua_State *L, sched_task_t *t, int task_idx) {
  if (t->state == T_DEAD) return;
  task_idx = lua_absindex(L, task_idx);
  if (t->state == T_WAITING) unwait(L, t, task_idx);
  tw_cancel(&S.wheel, &t->timer.tw);
  if (t->state == T_READY) {
    /* Unlink from the run queue. */
    sched_task_t **pp = &S.rq_head, *prev = NULL;
    while (*pp && *pp != t) {
      prev = *pp;
      pp = &(*pp)->next;
    }
    if (*pp) {
      *pp = t->next;
      if (S.rq_tail == t) S.rq_tail = prev;
    }
  }
  t->cancelled = 1;
  lua_settop(t->co, 0);
  lua_pushliteral(t->co, "cancelled");
  int top = lua_gettop(L);
  finish_task(L, t, 0, 0);
  lua_settop(L, top);
}

sched_result_t sched_run(lua_State *L, uint64_t until_us) {
  S.stop = false;
  for (;;) {
    if (!S.virtual_time) set_now(hal_clock_us());
    drain_sources(L);
    fire_timers(L);
    for (int i = 0; i < SCHED_BATCH; i++) {
      sched_task_t *t = rq_pop();
      if (!t) break;
      if (!run_task(L, t)) return SCHED_ERROR;
      if (S.stop) break;
    }
    if (S.stop) return SCHED_STOPPED;
    if (until_us != UINT64_MAX && S.now >= until_us) return SCHED_UNTIL;
    if (S.rq_head) continue;
    if (sources_pending()) continue;
    if (S.idle_hook) {
      S.idle_hook(L, S.idle_ud);
      if (S.stop) return SCHED_STOPPED;
      if (S.rq_head) continue;
    }
    uint64_t next = tw_next(&S.wheel);
    if (next == UINT64_MAX && S.refs == 0) {
      if (S.ntasks == 0) return SCHED_IDLE;
      return SCHED_DEADLOCK;
    }
    uint64_t wake = next < until_us ? next : until_us;
    if (S.virtual_time) {
      if (wake != UINT64_MAX) {
        if (S.refs > 0) hal_clock_idle(0); /* let outside input in first, without waiting */
        set_now(wake); /* nothing to do before then: jump */
        continue;
      }
      hal_clock_idle(UINT64_MAX); /* only outside input can wake us */
      continue;
    }
    if (wake > S.now) hal_clock_idle(wake);
  }
}
