#include "sched.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "hal/hal_clock.h"
#include "lauxlib.h"
#include "lualib.h"
/* Lua's internals, read only to compute prefetch addresses (note_resume). */
#if LUA_VERSION_NUM == 504
#include "lfunc.h"
#include "lstate.h"
#define SCHED_PREFETCH 1
#endif

/* Task life cycle. Every change goes through set_state(), which refuses
 * (panics on) any change not in `legal`: the API entry points check first
 * and raise a Lua error, so reaching the panic means a scheduler bug.
 *   ready -> running | ending        (picked by the loop | cancelled)
 *   running -> ready | sleeping | waiting | ending
 *   sleeping, waiting -> ready | ending
 *   ending -> dead                   (results stored, coroutine closed) */
enum { T_READY, T_RUNNING, T_SLEEPING, T_WAITING, T_ENDING, T_DEAD, T_NSTATES };
static const char *const task_status_names[] = {"ready",   "running", "sleeping",
                                                "waiting", "dead",    "dead"};
#define B(s) (1u << (s))
static const uint8_t legal[T_NSTATES] = {
    [T_READY] = B(T_RUNNING) | B(T_ENDING),
    [T_RUNNING] = B(T_READY) | B(T_SLEEPING) | B(T_WAITING) | B(T_ENDING),
    [T_SLEEPING] = B(T_READY) | B(T_ENDING),
    [T_WAITING] = B(T_READY) | B(T_ENDING),
    [T_ENDING] = B(T_DEAD),
    [T_DEAD] = 0,
};
#undef B

enum {
  F_CANCELLED = 1, /* ended by sched_cancel */
  F_KEYED = 2,     /* waits on a keyed queue (task.wait) */
  F_CLOSED = 4,    /* coroutine already closed */
  F_INTR = 8,      /* an interrupt is to be raised when it runs */
  F_HANDED = 16,   /* woken by sched_hand: its value waits on its stack */
  F_PREFETCH = 32, /* woken by its timer: prefetch its resume set before it runs */
};

/* How far ahead of the running task the loop prefetches a woken task's
 * resume set: far enough for the memory to arrive, near enough to stay
 * in cache. The first ones of a batch are prefetched when fired. */
#define PF_AHEAD 4

/* Uservalue slots of a task object. */
enum { UV_THREAD = 1, UV_WAITKEY = 2, UV_RESULT = 3, UV_COUNT = 3 };

/* What a wake-up touches comes first (the timer, the run-queue link, the
 * state, the thread, the resume set); the wait-queue part after. */
#define TASK_PF 6
struct sched_task {
  sched_timer_t timer;         /* sleep / wait timeout */
  sched_task_t *next;          /* run queue */
  lua_State *co;
  int nresume;                 /* values pushed on co for its next resume */
  uint8_t state;
  uint8_t flags;
  sched_waitq_t *woken_from;   /* woken by sched_wake, not yet run */
  /* Where the thread's next resume reads beyond the thread and its stack
   * (its two CallInfos, the closure, upvalues), noted when it blocks: a
   * timer that expires prefetches them, so a batch of wake-ups overlaps
   * its cache misses. With the fields above: 120 bytes, two cache lines
   * when the record is aligned (sim/alloc.c aligns it). */
  const void *pf[TASK_PF];
  void *alloc_block;           /* the allocator's block for it (sched_alloc_group) */
  sched_task_t *wnext, *wprev; /* wait queue */
  sched_waitq_t *waitq;        /* the queue it is parked on */
  sched_waitq_t joiners;
  int ref;                     /* registry ref keeping the task alive, or LUA_NOREF */
  uint32_t id;
};

#define SCHED_MAX_SOURCES 8
/* Tasks run per round before the loop looks at the clock and the rings:
 * bounds latency while keeping a task switch free of clock reads. */
#define SCHED_BATCH 64
#define SCHED_BUSY_POLL_US 1000
/* Ticks one resume must last before its instructions are counted: short
 * resumes never pay for the count hook (it halves the VM's speed). */
#define SCHED_TICKS_BEFORE_COUNTING 10

static struct {
  bool virtual_time;
  volatile sig_atomic_t stop;
  uint64_t now;
  tw_t wheel;
  sched_task_t *rq_head, *rq_tail;
  sched_task_t *current;
  uint32_t ntasks; /* alive tasks */
  uint32_t next_id;
  int refs;
  sched_timer_t *weak; /* sched_set_weak_timer */
  uint64_t last_poll;  /* when the loop last looked at outside input */
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
  uint64_t idle_until;
  lua_State *main;
  void **group;      /* sched_alloc_group: a task's alloc_block or spawn_block */
  void *spawn_block;
  bool in_wheel;     /* the wheel's own allocations are nobody's */
  int fired;         /* tasks woken by this round of timers (PF_AHEAD) */
  lua_Alloc wheel_af; /* the state's allocator, for the wheel */
  void *wheel_aud;
  /* Shared with signal handlers / ISRs: */
  lua_State *volatile cur_co;     /* thread of the running task */
  volatile sig_atomic_t intr;     /* an interrupt waits to be delivered */
  volatile sig_atomic_t intr_hook; /* the hook was set to deliver it */
  volatile uint32_t serial;       /* resume count, for ticks */
  volatile uint32_t tick_serial;
  volatile uint32_t ticks_seen;
  volatile sig_atomic_t counting; /* the budget hook is set on cur_co */
  sched_task_t *volatile target;
} S;

/* Settings survive sched_init: ports set them before or after. */
static uint32_t budget;
static bool ticking;

/* Registry keys (addresses are unique). */
static const char waiters_key = 'w'; /* event key -> keyed queue userdata */
static const char pool_key = 'p';    /* spare keyed queues */
/* Strings pushed where allocating must not fail: anchored at init. */
enum { STR_TIMEOUT, STR_CANCELLED, STR_INTERRUPTED, STR_NOMSG, STR_N };
static const char *const str_text[STR_N] = {"timeout", "cancelled", "interrupted",
                                            "task error (no memory to describe it)"};
static const char str_keys[STR_N] = {0};

static void push_str(lua_State *L, int which) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &str_keys[which]);
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* ---- state machine ---- */

static void illegal_state(sched_task_t *t, int to);

static inline void set_state(sched_task_t *t, int to) {
  if (__builtin_expect(!(legal[t->state] & (1u << to)), 0)) illegal_state(t, to);
  t->state = (uint8_t)to;
}

/* Reached only through a scheduler bug: the API refuses illegal changes
 * with a Lua error before getting here. */
static void illegal_state(sched_task_t *t, int to) {
  static const char *const n[] = {"ready", "running", "sleeping", "waiting", "ending", "dead"};
  char msg[96];
  /* Small and allocation-free: we may be out of memory. */
  strcpy(msg, "sched: illegal task state change ");
  strcat(msg, n[t->state]);
  strcat(msg, " -> ");
  strcat(msg, n[to]);
  hal_panic(msg);
}

static sched_task_t **thread_slot(lua_State *co) { return (sched_task_t **)lua_getextraspace(co); }

/* ---- prefetching a wake-up ----
 * Only with many timers: below PF_MIN, the tasks' memory stays in the
 * caches and the bookkeeping would cost more than it saves. (A task's
 * noted addresses may then be stale: prefetching them is harmless.) */
#define PF_MIN 1024
static inline bool pf_on(void) { return S.wheel.count >= PF_MIN; }

/* With 10 000+ sleeping tasks, the objects a resume reads (the thread,
 * two CallInfos, stack slots, the closure, its upvalues: ~15 cache lines
 * in six or more allocations) are cold, and Lua reaches them by a chain
 * of dependent loads. Noting their addresses when the task blocks (they
 * are hot then) lets the expiry path prefetch all of them at once. */
#ifdef SCHED_PREFETCH
#define PF_STACK (8 * sizeof(StackValue))
static void note_resume(sched_task_t *t) {
  if (!pf_on()) return;
  lua_State *co = t->co;
  CallInfo *ci = co->ci, *prev = ci->previous;
  const void **pf = t->pf;
  pf[0] = ci;
  pf[1] = prev;
  pf[2] = pf[3] = pf[4] = pf[5] = NULL;
  if (prev && isLua(prev)) {
    const LClosure *cl = clLvalue(s2v(prev->func));
    pf[2] = cl;
    for (int i = 0; i < cl->nupvalues && i < 3; i++) pf[3 + i] = cl->upvals[i];
  }
}

/* always_inline: GCC deems a function that only prefetches pure and
 * drops calls to it (the prefetches vanish). */
static inline __attribute__((always_inline)) void prefetch_resume(const sched_task_t *t) {
  /* The lines of the thread a resume reads (whatever its alignment)... */
  const lua_State *co = t->co;
  __builtin_prefetch((const char *)co - LUA_EXTRASPACE, 1);
  __builtin_prefetch(&co->ci, 1);
  __builtin_prefetch(&co->errorJmp, 1);
  __builtin_prefetch((const char *)co + offsetof(lua_State, hook), 1); /* (volatile) */
  __builtin_prefetch((const char *)co + offsetof(lua_State, hookmask), 1);
  /* ...and its stack's first slots: lua_newthread allocates the stack
   * right after it (adjacent in sim/alloc.c's blocks, usually with malloc;
   * a guess that misses costs only the prefetches). */
  const char *st = (const char *)co + sizeof(lua_State);
  for (size_t o = 0; o < PF_STACK + 64; o += 64) __builtin_prefetch(st + o, 1);
  for (int i = 0; i < TASK_PF; i++) __builtin_prefetch(t->pf[i], 1); /* NULL: harmless */
}
#else
static void note_resume(sched_task_t *t) { (void)t; }
static void prefetch_resume(const sched_task_t *t) { (void)t; }
#endif

/* ---- queues ---- */

static sched_task_t *task_from_timer(sched_timer_t *tm) {
  return (sched_task_t *)((char *)tm - offsetof(sched_task_t, timer));
}

static void rq_append(sched_task_t *t) {
  t->next = NULL;
  if (S.rq_tail)
    S.rq_tail->next = t;
  else
    S.rq_head = t;
  S.rq_tail = t;
}

static void rq_push(sched_task_t *t) {
  set_state(t, T_READY);
  rq_append(t);
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

static void rq_unlink(sched_task_t *t) {
  sched_task_t **pp = &S.rq_head, *prev = NULL;
  while (*pp && *pp != t) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  if (*pp) {
    *pp = t->next;
    if (S.rq_tail == t) S.rq_tail = prev;
  }
  t->next = NULL;
}

static void wq_push(sched_waitq_t *q, sched_task_t *t) {
  t->wnext = NULL;
  t->wprev = q->tail;
  if (q->tail)
    q->tail->wnext = t;
  else
    q->head = t;
  q->tail = t;
  t->waitq = q;
  if (q->keepalive) S.refs++;
}

static void wq_remove(sched_task_t *t) {
  sched_waitq_t *q = t->waitq;
  if (!q) return;
  if (t->wprev)
    t->wprev->wnext = t->wnext;
  else
    q->head = t->wnext;
  if (t->wnext)
    t->wnext->wprev = t->wprev;
  else
    q->tail = t->wprev;
  t->wnext = t->wprev = NULL;
  t->waitq = NULL;
  if (q->keepalive) S.refs--;
}

static void push_task(lua_State *L, sched_task_t *t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
}

/* Take a waiting task off its queue (timeout, cancel, interrupt). A keyed
 * queue left empty leaves the waiters table. Allocation-free. */
static void unwait(lua_State *L, sched_task_t *t) {
  sched_waitq_t *q = t->waitq;
  wq_remove(t);
  if (!(t->flags & F_KEYED)) return;
  t->flags &= (uint8_t)~F_KEYED;
  push_task(L, t);
  lua_getiuservalue(L, -1, UV_WAITKEY); /* the queue object */
  if (q && sched_waitq_empty(q)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &waiters_key);
    lua_getiuservalue(L, -2, 1); /* its key */
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TUSERDATA && lua_touserdata(L, -1) == (void *)q) {
      lua_pop(L, 1);
      lua_pushnil(L);
      lua_rawset(L, -3);
    } else {
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setiuservalue(L, -2, UV_WAITKEY);
  lua_pop(L, 1);
}

/* Off every queue and timer, whatever the state. */
/* A task woken from `woken_from` will not use its wake-up: hand the value
 * back, or pass the wake-up on to the next waiter. */
static void pass_on(lua_State *L, sched_task_t *t) {
  sched_waitq_t *q = t->woken_from;
  t->woken_from = NULL;
  if (t->flags & F_HANDED) {
    t->flags &= (uint8_t)~F_HANDED;
    t->nresume = 0;
    lua_xmove(t->co, L, 1);
    q->undelivered(L, q);
  } else {
    sched_wake(q, 1);
  }
}

static void detach(lua_State *L, sched_task_t *t) {
  if (t->state == T_READY) {
    rq_unlink(t);
    if (t->woken_from) pass_on(L, t);
  }
  t->woken_from = NULL;
  if (t->state == T_WAITING) unwait(L, t);
  tw_cancel(&S.wheel, &t->timer.tw);
}

/* ---- hooks: budget and interrupts ---- */

static void task_hook(lua_State *L, lua_Debug *ar);

/* The budget's count hook, and the interrupt's (every call, return and
 * instruction). Not inlined: they are called from several places, and the
 * board's flash is counted. */
static __attribute__((noinline)) void arm_count(lua_State *L) {
  lua_sethook(L, task_hook, LUA_MASKCOUNT, (int)(budget > INT32_MAX ? INT32_MAX : budget));
}

static __attribute__((noinline)) void arm_intr(lua_State *L) {
  lua_sethook(L, task_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* The hook this resume should keep after an interrupt check. */
static void rearm(lua_State *L) {
  if (S.counting)
    arm_count(L);
  else
    lua_sethook(L, NULL, 0, 0);
}

/* A hook the app set with debug.sethook: the budget leaves it alone (one
 * hook per thread); an interrupt overrides it, as in lua.c. */
static bool foreign_hook(lua_State *co) {
  lua_Hook h = co->hook;
  return h != NULL && h != task_hook;
}

static void clear_own_hook(lua_State *co) {
  if (co->hook == task_hook) lua_sethook(co, NULL, 0, 0);
}

static int where(lua_State *L, lua_Debug *ar) {
  if (!lua_getstack(L, 0, ar) || !lua_getinfo(L, "Sl", ar)) return 0;
  return ar->currentline;
}

static void raise_interrupted(lua_State *L) {
  lua_Debug ar;
  if (where(L, &ar) > 0)
    lua_pushfstring(L, "%s:%d: interrupted", ar.short_src, ar.currentline);
  else
    push_str(L, STR_INTERRUPTED);
  lua_error(L);
}

static bool intr_for(sched_task_t *t) {
  if (t->flags & F_INTR) return true;
  return S.intr && (S.target == NULL || S.target == t);
}

static void take_intr(sched_task_t *t) {
  t->flags &= (uint8_t)~F_INTR;
  if (S.target == NULL || S.target == t) S.intr = 0;
}

static void task_hook(lua_State *L, lua_Debug *ar) {
  sched_task_t *t = S.current;
  if (S.intr_hook) {
    S.intr_hook = 0;
    rearm(L);
    if (t && intr_for(t)) {
      take_intr(t);
      raise_interrupted(L);
    }
    return;
  }
  if (!t || !budget || ar->event != LUA_HOOKCOUNT) {
    rearm(L);
    return;
  }
  lua_Debug w;
  int line = where(L, &w);
  /* Keep counting: a task that catches this and spins on is stopped again. */
  rearm(L);
  lua_pushfstring(L, "task %d (%s:%d): exceeded its instruction budget of %I without yielding",
                  (int)t->id, line > 0 ? w.short_src : "?", line, (lua_Integer)budget);
  lua_error(L);
}

void sched_set_budget(uint32_t instructions) { budget = instructions; }
uint32_t sched_budget(void) { return budget; }
void sched_use_ticks(bool on) { ticking = on; }

void sched_tick(void) {
  lua_State *co = S.cur_co;
  if (!co || !budget || S.counting) return;
  uint32_t s = S.serial;
  if (S.tick_serial != s) {
    S.tick_serial = s; /* first tick of this resume */
    S.ticks_seen = 0;
    return;
  }
  if (++S.ticks_seen < SCHED_TICKS_BEFORE_COUNTING || foreign_hook(co)) return;
  /* The same resume over many ticks: start counting. */
  S.counting = 1;
  if (!S.intr_hook)
    arm_count(co);
}

void sched_interrupt(void) {
  S.intr = 1;
  lua_State *co = S.cur_co;
  if (co) {
    S.intr_hook = 1;
    arm_intr(co);
  }
}

void sched_set_interrupt_target(sched_task_t *t) {
  S.target = (t && t->state < T_ENDING) ? t : NULL;
}

/* The loop's side: hand a pending interrupt to a parked target. */
static void deliver_interrupt(lua_State *L) {
  sched_task_t *t = S.target;
  if (!S.intr || !t) return;
  S.intr = 0;
  t->flags |= F_INTR;
  if (t->state == T_SLEEPING || t->state == T_WAITING) {
    detach(L, t);
    rq_push(t);
  }
}

/* ---- finishing a task ---- */

static bool report_error(lua_State *L);

/* Protected part of the end of a task, on the loop's (or canceller's)
 * state: results or the formatted error to the result slot, coroutine
 * closed. Args: task (light), status, nres. Returns the message to report
 * (failed task), the __close error (cancelled task), or nil. */
static int end_protected(lua_State *L) {
  sched_task_t *t = lua_touserdata(L, 1);
  int st = (int)lua_tointeger(L, 2);
  int nres = (int)lua_tointeger(L, 3);
  lua_State *co = t->co;
  lua_settop(L, 0);
  luaL_checkstack(L, 8, NULL);
  push_task(L, t); /* 1 */
  int report = 0;
  if (t->flags & F_CANCELLED) {
    lua_createtable(L, 2, 1);
    push_str(L, STR_CANCELLED);
    lua_rawseti(L, -2, 2);
  } else if (st == LUA_OK) {
    lua_createtable(L, nres + 1, 1);
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, 1);
    for (int i = nres; i >= 1; i--) { /* from the top: no room needed on co */
      lua_xmove(co, L, 1);
      lua_rawseti(L, -2, i + 1);
    }
  } else {
    /* A copy of the error object: resetthread below needs it on co, and
     * co's frames stay for the traceback. */
    if (!lua_checkstack(co, 1)) luaL_error(L, "task %d: stack overflow", (int)t->id);
    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1); /* 2 */
    const char *msg = lua_tostring(L, 2);
    if (!msg) {
      if (luaL_callmeta(L, 2, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        msg = lua_tostring(L, -1);
      else
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 2));
    }
    luaL_traceback(L, co, msg, 0);
    /* "task N: ...", unless the message names the task already (budget). */
    char own[32];
    snprintf(own, sizeof own, "task %d (", (int)t->id);
    const char *tb = lua_tostring(L, -1);
    if (strncmp(tb, own, strlen(own)) != 0)
      lua_pushfstring(L, "task %d: %s", (int)t->id, tb);
    else
      lua_pushvalue(L, -1);
    lua_replace(L, 3);
    lua_settop(L, 3);
    lua_createtable(L, 2, 1);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, 2);
    report = 3;
  }
  lua_pushinteger(L, (t->flags & F_CANCELLED) || st != LUA_OK ? 2 : nres + 1);
  lua_setfield(L, -2, "n");
  lua_setiuservalue(L, 1, UV_RESULT);
  if ((t->flags & F_CANCELLED) || st != LUA_OK) {
    /* Pending <close> variables run now; __close itself is protected. */
    t->flags |= F_CLOSED;
    if (lua_resetthread(co) != LUA_OK) {
      lua_xmove(co, L, 1);
      /* A failed task's own error comes back unless a __close replaced it. */
      if (report && lua_rawequal(L, -1, 2)) {
        lua_pushvalue(L, report);
        return 1;
      }
      const char *cerr = luaL_tolstring(L, -1, NULL);
      if (report) {
        lua_pushfstring(L, "%s\n(and a __close handler failed: %s)", lua_tostring(L, report), cerr);
        lua_replace(L, report);
      } else {
        lua_pushfstring(L, "task %d: error closing it: %s", (int)t->id, cerr);
        return 1;
      }
    }
  }
  if (report) {
    lua_pushvalue(L, report);
    return 1;
  }
  return 0;
}

static lua_State *co_of(sched_task_t *t) { return t->co; }

/* After end_protected failed: "task N: <error>" and the outcome, no
 * traceback. Args: task (light), error value. */
static int end_short_p(lua_State *L) {
  sched_task_t *t = lua_touserdata(L, 1);
  const char *msg = lua_tostring(L, 2);
  lua_pushfstring(L, "task %d: %s (no memory for a traceback)", (int)t->id,
                  msg ? msg : "error");
  push_task(L, t);
  lua_createtable(L, 2, 1);
  lua_pushvalue(L, -3);
  lua_rawseti(L, -2, 2);
  lua_pushinteger(L, 2);
  lua_setfield(L, -2, "n");
  lua_setiuservalue(L, -2, UV_RESULT);
  lua_pop(L, 1);
  return 1;
}

/* End a task that is off every queue: protected bookkeeping, then the
 * allocation-free rest that must happen whatever failed. Leaves one value
 * on L: the message to report, a __close error (cancel), or nil. */
static void end_task(lua_State *L, sched_task_t *t, int st, int nres) {
  set_state(t, T_ENDING);
  int failed = st != LUA_OK || (t->flags & F_CANCELLED);
  int top = lua_gettop(L);
  if (lua_checkstack(L, 6)) {
    lua_pushcfunction(L, end_protected);
    lua_pushlightuserdata(L, t);
    lua_pushinteger(L, st);
    lua_pushinteger(L, nres);
    if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
      /* No memory (or a __tostring that failed). What the task held is
       * garbage once its coroutine is closed: collect it and try a short
       * message without the traceback; else the error object itself is
       * the outcome and what is reported. */
      if (st != LUA_OK && !(t->flags & (F_CLOSED | F_CANCELLED))) {
        lua_State *co = co_of(t);
        t->flags |= F_CLOSED;
        lua_resetthread(co); /* leaves the task's error on co */
        lua_xmove(co, L, 1);
        lua_settop(co, 0);
        lua_gc(L, LUA_GCCOLLECT);
        lua_pushcfunction(L, end_short_p);
        lua_pushlightuserdata(L, t);
        lua_pushvalue(L, -3);
        if (lua_pcall(L, 2, 1, 0) == LUA_OK) {
          lua_replace(L, -3);
          lua_pop(L, 1);
        } else {
          lua_pop(L, 2);
        }
      }
      if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        push_str(L, STR_NOMSG);
      }
      push_task(L, t);
      lua_pushvalue(L, -2);
      lua_setiuservalue(L, -2, UV_RESULT);
      lua_pop(L, 1);
    }
  } else {
    lua_settop(L, top);
    lua_pushnil(L); /* cannot even grow the stack: end it silently */
  }
  lua_State *co = t->co;
  if (failed && !(t->flags & F_CLOSED)) lua_resetthread(co);
  set_state(t, T_DEAD);
  S.ntasks--;
  *thread_slot(co) = NULL;
  if (S.target == t) S.target = NULL;
  sched_wake(&t->joiners, -1);
  luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
  t->ref = LUA_NOREF;
  lua_settop(co, 0); /* the thread's stack is no longer needed */
}

static int pass_on_p(lua_State *L) {
  pass_on(L, lua_touserdata(L, 1));
  return 0;
}

/* Run one task; returns false when an uncaught error should stop the loop
 * (the message is then on top of L). */
static bool run_task(lua_State *L, sched_task_t *t) {
  int nres = 0;
  int n = t->nresume;
  t->nresume = 0;
  lua_State *co = t->co;
  if (t->woken_from) {
    if (intr_for(t)) { /* it will not take it (may allocate: protected) */
      lua_pushcfunction(L, pass_on_p);
      lua_pushlightuserdata(L, t);
      if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1); /* the value is lost */
      t->woken_from = NULL;
      t->flags &= (uint8_t)~F_HANDED;
      n = 0;
    }
    t->woken_from = NULL;
    t->flags &= (uint8_t)~F_HANDED;
  }
  set_state(t, T_RUNNING);
  S.current = t;
  S.serial++;
  S.cur_co = co;
  if (budget && !ticking && !foreign_hook(co)) {
    S.counting = 1;
    arm_count(co);
  }
  if (intr_for(t)) {
    S.intr_hook = 1;
    arm_intr(co);
  }
  S.group = &t->alloc_block;
  int st = lua_resume(co, L, n, &nres);
  S.group = NULL;
  S.cur_co = NULL;
  S.current = NULL;
  S.counting = 0;
  S.intr_hook = 0;
  clear_own_hook(co);
  if (st == LUA_YIELD) {
    if (nres) lua_pop(co, nres);
    /* A bare coroutine.yield() in a task body acts like task.yield(). */
    if (t->state == T_RUNNING) rq_push(t);
    return true;
  }
  end_task(L, t, st, nres);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return true;
  }
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
    if (!pf_on()) {
      /* all cached */
    } else if (S.fired < PF_AHEAD) {
      prefetch_resume(t);
      S.fired++;
    } else {
      t->flags |= F_PREFETCH;
    }
  } else if (t->state == T_WAITING) {
    if (!lua_checkstack(t->co, 2)) luaL_error(L, "task %d: stack overflow", (int)t->id);
    unwait(L, t);
    push_str(L, STR_TIMEOUT);
    lua_pushnil(t->co);
    lua_xmove(L, t->co, 1);
    t->nresume = 2;
    rq_push(t);
  }
}

/* ---- the loop's protected steps ---- */

static int error_tramp(lua_State *L) {
  bool keep = S.on_error(L, S.on_error_ud);
  lua_pushboolean(L, keep);
  return 1;
}

/* An uncaught error (message on top of L): ask the handler, protected. */
static bool report_error(lua_State *L) {
  if (!S.on_error || !lua_checkstack(L, 3)) return false;
  lua_pushcfunction(L, error_tramp);
  lua_pushvalue(L, -2);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return false;
  }
  bool keep = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return keep;
}

/* Timers are fired in batches: first the records of the batch are
 * prefetched (their addresses come from the wheel's compact nodes), so
 * their misses overlap instead of following one another. */
#define FIRE_AHEAD 32
static int fire_timers_p(lua_State *L) {
  tw_timer_t *ahead[FIRE_AHEAD];
  int n;
  S.fired = 0;
  if (!pf_on()) {
    tw_timer_t *tw;
    while ((tw = tw_pop_expired(&S.wheel)) != NULL) ((sched_timer_t *)tw)->fn(L, (sched_timer_t *)tw);
    return 0;
  }
  while ((n = tw_peek_expired(&S.wheel, ahead, FIRE_AHEAD)) > 0) {
    if (n == 1) { /* nothing to overlap with */
      tw_timer_t *tw = tw_pop_expired(&S.wheel);
      if (!tw) break;
      ((sched_timer_t *)tw)->fn(L, (sched_timer_t *)tw);
      continue;
    }
    for (int i = 0; i < n; i++) {
      __builtin_prefetch(ahead[i], 1);
      __builtin_prefetch((const char *)ahead[i] + 64, 1);
    }
    for (int i = 0; i < n; i++) {
      tw_timer_t *tw = tw_pop_expired(&S.wheel);
      if (!tw) break;
      sched_timer_t *tm = (sched_timer_t *)tw;
      tm->fn(L, tm);
    }
  }
  return 0;
}

static int drain_sources_p(lua_State *L) {
  for (int i = 0; i < S.nsources; i++) {
    evring_event_t ev;
    while (evring_get(S.sources[i].ring, &ev)) S.sources[i].fn(L, &ev, S.sources[i].ud);
  }
  return 0;
}

static int idle_hook_p(lua_State *L) {
  S.idle_hook(L, S.idle_ud);
  return 0;
}

static int clock_idle_p(lua_State *L) {
  (void)L;
  S.last_poll = S.now;
  hal_clock_idle(S.idle_until); /* host: may run fd callbacks (REPL input) */
  return 0;
}

static int deliver_interrupt_p(lua_State *L) {
  deliver_interrupt(L);
  return 0;
}

/* C callbacks that may allocate or call Lua run under lua_pcall; an error
 * is an uncaught error like a task's. False: stop the loop (message on L). */
static bool protected_step(lua_State *L, lua_CFunction f) {
  lua_pushcfunction(L, f);
  if (lua_pcall(L, 0, 0, 0) == LUA_OK) return true;
  if (report_error(L)) {
    lua_pop(L, 1);
    return true;
  }
  return false;
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

static const char wheel_key = 'h';

/* The wheel's arrays and node pool are shared: never in a task's block. */
static void *wheel_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  (void)ud;
  S.in_wheel = true;
  void *r = S.wheel_af(S.wheel_aud, p, osize, nsize);
  S.in_wheel = false;
  return r;
}

void **sched_alloc_group(void) { return S.in_wheel ? NULL : S.group; }

/* The state is closing (this is one of its last finalizers; the objects
 * are freed next). `os.exit(code, true)` closes it from inside a running
 * task: forget the task, so a tick or an interrupt arriving while the
 * process exits touches no freed thread. */
static int wheel_gc(lua_State *L) {
  if (L != S.main) return 0; /* not a newer state's wheel */
  tw_free(&S.wheel);
  S.cur_co = NULL;
  S.current = NULL;
  S.counting = 0;
  S.intr_hook = 0;
  return 0;
}

void sched_init(lua_State *L, bool virtual_time) {
  memset(&S, 0, sizeof S);
  S.virtual_time = virtual_time;
  S.now = virtual_time ? 0 : hal_clock_us();
  S.main = L;
  S.next_id = 1;
  S.wheel_af = lua_getallocf(L, &S.wheel_aud);
  tw_init(&S.wheel, S.now, wheel_alloc, NULL);
  *thread_slot(L) = NULL; /* new threads copy the main thread's slot */
  /* The wheel's node pool comes from the state's allocator (counted by
   * --mem-limit); it goes back when the state closes. */
  lua_newuserdatauv(L, 1, 0);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, wheel_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &wheel_key);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &waiters_key);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &pool_key);
  for (int i = 0; i < STR_N; i++) {
    lua_pushstring(L, str_text[i]);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &str_keys[i]);
  }
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
void sched_stop(void) { S.stop = 1; }
void sched_ref(int delta) { S.refs += delta; }
uint32_t sched_task_count(void) { return S.ntasks; }
uint32_t sched_task_id(const sched_task_t *t) { return t->id; }
const char *sched_task_status(const sched_task_t *t) { return task_status_names[t->state]; }
bool sched_task_dead(const sched_task_t *t) { return t->state == T_DEAD; }
sched_task_t *sched_task_of_thread(lua_State *co) { return *thread_slot(co); }

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
void sched_set_weak_timer(sched_timer_t *t) { S.weak = t; }

sched_task_t *sched_spawn(lua_State *L, int nargs) {
  int fidx = lua_gettop(L) - nargs;
  luaL_checkstack(L, 4, "task.spawn");
  /* Record, thread and stack side by side (see sched_alloc_group). An
   * error below leaves the group set until the next spawn or resume. */
  void **outer = S.group;
  S.spawn_block = NULL;
  S.group = &S.spawn_block;
  sched_task_t *t = lua_newuserdatauv(L, sizeof *t, UV_COUNT);
  memset(t, 0, sizeof *t);
  t->ref = LUA_NOREF;
  t->state = T_READY;
  luaL_setmetatable(L, SCHED_TASK_MT);
  t->co = lua_newthread(L);
  t->alloc_block = S.spawn_block;
  S.spawn_block = NULL;
  S.group = outer;
  /* Room for the function and its arguments, checked before anything is
   * registered: a failure leaves no half-made task behind. */
  if (!lua_checkstack(t->co, nargs + 1))
    luaL_error(L, "task.spawn: too many arguments (%d)", nargs);
  lua_setiuservalue(L, -2, UV_THREAD);
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t->id = S.next_id++;
  t->timer.fn = task_timer_fired;
  *thread_slot(t->co) = t;
  /* Move function and arguments onto the new coroutine. */
  lua_insert(L, fidx); /* task object below the function */
  lua_xmove(L, t->co, nargs + 1);
  t->nresume = nargs;
  S.ntasks++;
  rq_append(t); /* born ready: no transition to check */
  return t;
}

sched_task_t *sched_current(lua_State *L) {
  return (S.current && S.current->co == L) ? S.current : NULL;
}

sched_task_t *sched_check_task(lua_State *L, const char *what) {
  /* Check before touching any state: a yield that then fails (inside a
   * table.sort comparator, a gsub callback...) must leave the task as it was. */
  sched_task_t *t = sched_current(L);
  if (t && !lua_isyieldable(L))
    luaL_error(L, "%s: cannot block inside a C callback (table.sort, string.gsub ...)", what);
  if (!t) {
    if (S.current)
      luaL_error(L, "%s: called from a plain coroutine inside a task; use task.spawn", what);
    else
      luaL_error(L, "%s: must be called from a task (the app, a task.spawn function, "
                    "a timer or an interrupt handler)", what);
  }
  /* An interrupt for this task is raised at its next blocking call too:
   * C loops that only wait again would never reach the hook. */
  if (intr_for(t)) {
    take_intr(t);
    raise_interrupted(L);
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
  set_state(t, T_SLEEPING);
  tw_add(&S.wheel, &t->timer.tw, sat_add(S.now, us));
  note_resume(t);
  return lua_yield(L, 0);
}

static int park(lua_State *L, sched_task_t *t, sched_waitq_t *q, uint64_t timeout_us,
                lua_KContext ctx, lua_KFunction k) {
  wq_push(q, t);
  set_state(t, T_WAITING);
  if (timeout_us != UINT64_MAX) {
    tw_add(&S.wheel, &t->timer.tw, sat_add(S.now, timeout_us));
    note_resume(t);
  }
  if (k) return lua_yieldk(L, 0, ctx, k);
  return lua_yield(L, 0);
}

int sched_wait_on(lua_State *L, sched_waitq_t *q, uint64_t timeout_us, lua_KContext ctx,
                  lua_KFunction k, const char *what) {
  sched_task_t *t = sched_check_task(L, what);
  return park(L, t, q, timeout_us, ctx, k);
}

int sched_wake(sched_waitq_t *q, int max) {
  int n = 0;
  while (q->head && (max < 0 || n < max)) {
    sched_task_t *t = q->head;
    wq_remove(t);
    tw_cancel(&S.wheel, &t->timer.tw);
    t->woken_from = q;
    t->nresume = 0;
    rq_push(t);
    n++;
  }
  return n;
}

void sched_waitq_forget(sched_waitq_t *q) {
  for (sched_task_t *t = S.rq_head; t; t = t->next)
    if (t->woken_from == q) {
      t->woken_from = NULL;
      t->flags &= (uint8_t)~F_HANDED;
    }
}

bool sched_hand(lua_State *L, sched_waitq_t *q) {
  sched_task_t *t = q->head;
  if (!t || !lua_checkstack(t->co, 1)) return false;
  wq_remove(t);
  tw_cancel(&S.wheel, &t->timer.tw);
  lua_xmove(L, t->co, 1);
  t->nresume = 1;
  t->woken_from = q;
  t->flags |= F_HANDED;
  rq_push(t);
  return true;
}

int sched_wait(lua_State *L, int key_idx, uint64_t timeout_us, lua_KContext ctx,
               lua_KFunction k, const char *what) {
  sched_task_t *t = sched_check_task(L, what);
  key_idx = lua_absindex(L, key_idx);
  luaL_checkstack(L, 6, what);
  /* The key's queue: existing, or a spare one, or a new one. Everything
   * that can fail happens before the task changes state. */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &waiters_key);
  int wt = lua_gettop(L);
  lua_pushvalue(L, key_idx);
  if (lua_rawget(L, wt) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &pool_key);
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n > 0) {
      lua_rawgeti(L, -1, n);
      lua_pushnil(L);
      lua_rawseti(L, -3, n);
    } else {
      sched_waitq_t *q = lua_newuserdatauv(L, sizeof *q, 1);
      *q = (sched_waitq_t){0};
    }
    lua_remove(L, -2);
    lua_pushvalue(L, key_idx);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, key_idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, wt);
  }
  sched_waitq_t *q = lua_touserdata(L, -1);
  push_task(L, t);
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, UV_WAITKEY);
  lua_settop(L, wt - 1);
  t->flags |= F_KEYED;
  return park(L, t, q, timeout_us, ctx, k);
}

int sched_signal(lua_State *L, int key_idx, int nvals) {
  key_idx = lua_absindex(L, key_idx);
  int first = lua_gettop(L) - nvals + 1;
  luaL_checkstack(L, 6, "task.signal");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &waiters_key);
  int wt = lua_gettop(L);
  lua_pushvalue(L, key_idx);
  if (lua_rawget(L, wt) != LUA_TUSERDATA) {
    lua_settop(L, wt - 1);
    return 0;
  }
  int qidx = lua_gettop(L);
  sched_waitq_t *q = lua_touserdata(L, qidx);
  /* Room on every waiter's stack first, so nothing below can fail. */
  int need = nvals > 0 ? nvals : 1;
  for (sched_task_t *t = q->head; t; t = t->wnext)
    if (!lua_checkstack(t->co, need))
      luaL_error(L, "task.signal: too many values (%d) for a waiting task", nvals);
  /* Detach the queue first: a woken task may wait on the same key again. */
  lua_pushvalue(L, key_idx);
  lua_pushnil(L);
  lua_rawset(L, wt);
  int n = 0;
  while (q->head) {
    sched_task_t *t = q->head;
    wq_remove(t);
    t->flags &= (uint8_t)~F_KEYED;
    push_task(L, t);
    lua_pushnil(L);
    lua_setiuservalue(L, -2, UV_WAITKEY);
    lua_pop(L, 1);
    tw_cancel(&S.wheel, &t->timer.tw);
    if (nvals == 0) {
      lua_pushboolean(t->co, 1);
      t->nresume = 1;
    } else {
      for (int v = 0; v < nvals; v++) {
        lua_pushvalue(L, first + v);
        lua_xmove(L, t->co, 1);
      }
      t->nresume = nvals;
    }
    rq_push(t);
    n++;
  }
  /* Keep the empty queue for the next key (this may allocate: last). */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &pool_key);
  if (lua_rawlen(L, -1) < 64) {
    lua_pushnil(L);
    lua_setiuservalue(L, qidx, 1); /* do not keep the old key alive */
    lua_pushvalue(L, qidx);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  }
  lua_settop(L, wt - 1);
  return n;
}

int sched_join(lua_State *L, int task_idx, uint64_t timeout_us, lua_KContext ctx,
               lua_KFunction k) {
  sched_task_t *tt = lua_touserdata(L, task_idx);
  sched_task_t *t = sched_check_task(L, "task:join");
  if (t == tt) luaL_error(L, "task:join: a task cannot join itself");
  return park(L, t, &tt->joiners, timeout_us, ctx, k);
}

int sched_push_results(lua_State *L, int task_idx) {
  task_idx = lua_absindex(L, task_idx);
  if (lua_getiuservalue(L, task_idx, UV_RESULT) != LUA_TTABLE) {
    /* The outcome could not be stored (no memory): its error instead. */
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  lua_getfield(L, -1, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, "too many results to join");
  int rt = lua_gettop(L);
  for (int i = 1; i <= n; i++) lua_rawgeti(L, rt, i);
  lua_remove(L, rt);
  return n;
}

void sched_cancel(lua_State *L, sched_task_t *t, int task_idx) {
  if (t->state == T_DEAD || t->state == T_ENDING) return;
  if (t->state == T_RUNNING)
    luaL_error(L, "task %d is running: a task cannot cancel itself (return or raise an error "
                  "instead)", (int)t->id);
  (void)task_idx; /* the object at task_idx keeps `t` alive meanwhile */
  luaL_checkstack(L, 8, NULL);
  detach(L, t);
  t->flags |= F_CANCELLED;
  end_task(L, t, LUA_OK, 0);
  if (!lua_isnil(L, -1)) lua_error(L); /* a __close handler failed */
  lua_pop(L, 1);
}

/* ---- the coroutine library, guarded ----
 * A task's own coroutine belongs to the scheduler: resuming or closing it
 * from other code would run the task outside the loop or free a stack the
 * loop still uses. Plain coroutines resumed inside a task take over the
 * task's hooks and become the thread that ticks and interrupts aim at, so
 * a busy loop inside one is stopped like one in the task itself. */

static void refuse_task_thread(lua_State *L, lua_State *co, const char *fn, const char *instead) {
  sched_task_t *t = *thread_slot(co);
  if (t)
    luaL_error(L, "coroutine.%s: that coroutine is task %d, run by the scheduler; %s", fn,
               (int)t->id, instead);
}

/* The instruction count travels with control: a coroutine resumed inside
 * a task runs on what is left of its resumer's count hook (the task's
 * budget, or another count hook such as a test harness's) and hands back
 * what it leaves, so work spread over many short coroutines cannot reset
 * the count. A coroutine with a hook of its own (debug.sethook with other
 * events) keeps it. */
static bool hook_shared(lua_State *co, lua_State *from) {
  if (!(from->hookmask & LUA_MASKCOUNT)) return false;
  lua_Hook h = co->hook;
  return h == NULL || h == task_hook || (h == from->hook && co->hookmask == from->hookmask);
}

static void hook_pass(lua_State *to, lua_State *from) {
  lua_sethook(to, from->hook, from->hookmask, from->basehookcount);
  to->hookcount = from->hookcount;
}

static int guarded_resume(lua_State *L, lua_State *co, int narg, int *nres) {
  lua_State *outer = S.cur_co;
  if (!outer || !S.current) return lua_resume(co, L, narg, nres);
  S.cur_co = co;
  lua_Hook passed = NULL;
  if (S.intr_hook) {
    arm_intr(co);
  } else if (hook_shared(co, outer)) {
    passed = outer->hook;
    hook_pass(co, outer);
  } else if (S.counting && !foreign_hook(co)) {
    rearm(co);
  }
  int st = lua_resume(co, L, narg, nres);
  S.cur_co = outer;
  /* What was armed meanwhile applies to the outer thread now. */
  if (S.intr_hook) {
    clear_own_hook(co);
    arm_intr(outer);
    return st;
  }
  if (passed && co->hook == passed && outer->hook == passed)
    hook_pass(outer, co); /* the count left, and a rate the hook changed */
  clear_own_hook(co);
  if (S.counting && !foreign_hook(outer) && !(outer->hookmask & LUA_MASKCOUNT))
    rearm(outer);
  return st;
}

/* Resume `co` with the top `narg` values of L; leaves the results (or the
 * error object) on L. */
static int resume_values(lua_State *L, lua_State *co, int narg) {
  if (!lua_checkstack(co, narg)) {
    lua_pushliteral(L, "too many arguments to resume");
    return LUA_ERRRUN;
  }
  lua_xmove(L, co, narg);
  int nres = 0;
  int st = guarded_resume(L, co, narg, &nres);
  if (st == LUA_OK || st == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushliteral(L, "too many results to resume");
      return LUA_ERRRUN;
    }
    lua_xmove(co, L, nres);
    return LUA_OK;
  }
  lua_xmove(co, L, 1);
  return st;
}

static int co_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  refuse_task_thread(L, co, "resume", "use task.signal/task.wait or a channel to hand it values");
  int base = lua_gettop(L);
  if (resume_values(L, co, base - 1) != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_insert(L, 2);
  return lua_gettop(L) - 1;
}

static int co_wrap_call(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int st = resume_values(L, co, lua_gettop(L));
  if (st == LUA_OK) return lua_gettop(L);
  /* As coroutine.wrap: close the failed coroutine (its error, or that of a
   * __close, comes back from it), position on string errors. */
  int cs = lua_status(co);
  if (cs != LUA_OK && cs != LUA_YIELD) {
    st = lua_resetthread(co);
    lua_pop(L, 1);
    lua_xmove(co, L, 1);
  }
  if (st != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

static int co_wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, co_wrap_call, 1);
  return 1;
}

static int co_close(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  refuse_task_thread(L, co, "close", "use t:cancel()");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

int sched_luaopen_coroutine(lua_State *L) {
  luaopen_coroutine(L);
  lua_pushcfunction(L, co_resume);
  lua_setfield(L, -2, "resume");
  lua_pushcfunction(L, co_wrap);
  lua_setfield(L, -2, "wrap");
  lua_getfield(L, -1, "close");
  lua_pushcclosure(L, co_close, 1);
  lua_setfield(L, -2, "close");
  return 1;
}

sched_result_t sched_run(lua_State *L, uint64_t until_us) {
  S.stop = 0;
  for (;;) {
    if (!S.virtual_time) set_now(hal_clock_us());
    if (sources_pending() && !protected_step(L, drain_sources_p)) return SCHED_ERROR;
    if (tw_has_expired(&S.wheel) && !protected_step(L, fire_timers_p)) return SCHED_ERROR;
    if (S.intr && !protected_step(L, deliver_interrupt_p)) return SCHED_ERROR;
    for (int i = 0; i < SCHED_BATCH; i++) {
      sched_task_t *t = rq_pop();
      if (!t) break;
      /* Interleave memory and work: the task PF_AHEAD places on. */
      sched_task_t *a = pf_on() ? S.rq_head : NULL;
      for (int k = 1; k < PF_AHEAD && a; k++) a = a->next;
      if (a && (a->flags & F_PREFETCH)) {
        a->flags &= (uint8_t)~F_PREFETCH;
        prefetch_resume(a);
      }
      if (!run_task(L, t)) return SCHED_ERROR;
      if (S.stop) break;
      /* Tasks that work long between yields must not hold timers and
       * outside input back for a whole batch: end it once a millisecond
       * has passed (the clock read every 4 resumes: a read costs a fifth
       * of a task switch on the host). */
      if (!S.virtual_time && (i & 3) == 3 && hal_clock_us() - S.now >= SCHED_BUSY_POLL_US) break;
    }
    if (S.stop) return SCHED_STOPPED;
    if (until_us != UINT64_MAX && S.now >= until_us) return SCHED_UNTIL;
    if (S.rq_head) {
      /* Busy: outside input (network frames, REPL keys) still gets in, at
       * least once a millisecond, with a poll that does not wait. */
      if (!S.virtual_time && S.now - S.last_poll >= SCHED_BUSY_POLL_US) {
        S.idle_until = 0;
        if (!protected_step(L, clock_idle_p)) return SCHED_ERROR;
      }
      continue;
    }
    if (sources_pending()) continue;
    if (S.intr) {
      if (!protected_step(L, deliver_interrupt_p)) return SCHED_ERROR;
      if (S.rq_head) continue;
      /* Nobody to receive it: the loop itself is interrupted. */
      S.intr = 0;
      push_str(L, STR_INTERRUPTED);
      return SCHED_ERROR;
    }
    if (S.idle_hook) {
      if (!protected_step(L, idle_hook_p)) return SCHED_ERROR;
      if (S.stop) return SCHED_STOPPED;
      if (S.rq_head) continue;
    }
    uint64_t next = tw_next(&S.wheel);
    bool only_weak = S.weak && S.wheel.count == 1 && tw_active(&S.weak->tw);
    if ((next == UINT64_MAX || only_weak) && S.refs == 0) {
      if (S.ntasks == 0) return SCHED_IDLE;
      return SCHED_DEADLOCK;
    }
    uint64_t wake = next < until_us ? next : until_us;
    if (S.virtual_time) {
      if (wake != UINT64_MAX) {
        if (S.refs > 0) { /* let outside input in first, without waiting */
          S.idle_until = 0;
          if (!protected_step(L, clock_idle_p)) return SCHED_ERROR;
        }
        set_now(wake); /* nothing to do before then: jump */
        continue;
      }
      S.idle_until = UINT64_MAX; /* only outside input can wake us */
      if (!protected_step(L, clock_idle_p)) return SCHED_ERROR;
      continue;
    }
    if (wake > S.now) {
      S.idle_until = wake;
      if (!protected_step(L, clock_idle_p)) return SCHED_ERROR;
    }
  }
}
