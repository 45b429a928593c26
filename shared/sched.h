/* The event loop: one per system. Tasks are Lua coroutines; everything that
 * looks blocking (sleep, wait, channel receive) parks the calling task and
 * returns to this loop. Timers live in a hierarchical wheel (tw.h);
 * interrupt sources reach the loop through SPSC rings (evring.h) and are
 * turned into Lua calls here, in task context, never in the ISR. */
#ifndef SCHED_H
#define SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "evring.h"
#include "lua.h"
#include "tw.h"

typedef enum {
  SCHED_IDLE = 0,   /* nothing left to run, nothing pending */
  SCHED_UNTIL,      /* the `until` time was reached */
  SCHED_STOPPED,    /* sched_stop() was called */
  SCHED_ERROR,      /* a task raised an uncaught error (message on stack) */
  SCHED_DEADLOCK    /* tasks wait for events nothing can deliver */
} sched_result_t;

typedef struct sched_task sched_task_t;

/* A C-level timer; `fn` runs in the loop (not in a task). */
typedef struct sched_timer {
  tw_timer_t tw;
  void (*fn)(lua_State *L, struct sched_timer *t);
} sched_timer_t;

/* Called for each event drained from a ring, in the loop. */
typedef void (*sched_source_fn)(lua_State *L, const evring_event_t *ev, void *ud);

/* Called for an uncaught task error (traceback string on top of L's stack).
 * Return true to keep running, false to stop sched_run with SCHED_ERROR. */
typedef bool (*sched_error_fn)(lua_State *L, void *ud);

void sched_init(lua_State *L, bool virtual_time);
bool sched_virtual(void);
/* Current loop time in microseconds since boot (virtual or real). */
uint64_t sched_now(void);

/* Run the loop until idle, stopped, error, or `until_us` (UINT64_MAX: none). */
sched_result_t sched_run(lua_State *L, uint64_t until_us);
void sched_stop(void);

/* Spawn a task from the function at stack index -(nargs+1) and its nargs
 * arguments (popped); pushes the task object. */
sched_task_t *sched_spawn(lua_State *L, int nargs);
/* The running task or NULL (main thread, plain coroutine). */
sched_task_t *sched_current(lua_State *L);
uint32_t sched_task_count(void);

/* Keep-alive references: something outside the run queue and the timers
 * can still wake tasks (interrupt handlers, a REPL). */
void sched_ref(int delta);

void sched_timer_start(sched_timer_t *t, uint64_t at_us);
void sched_timer_stop(sched_timer_t *t);

void sched_add_source(evring_t *ring, sched_source_fn fn, void *ud);
/* Called each time the loop has run everything ready and is about to wait
 * (a REPL shows its prompt here). NULL removes it. */
void sched_set_idle_hook(void (*fn)(lua_State *L, void *ud), void *ud);
void sched_set_error_handler(sched_error_fn fn, void *ud);

/* Park the running task until sched_signal() on the value at `key_idx`
 * or until the timeout (microseconds from now, UINT64_MAX: none). Must be
 * called as `return sched_wait(...)`; it yields. The task then returns
 * the signalled values, or nil, "timeout". `k`/`ctx` as for lua_yieldk;
 * `what` names the Lua function in errors ("task.wait", "channel:recv"). */
int sched_wait(lua_State *L, int key_idx, uint64_t timeout_us, lua_KContext ctx,
               lua_KFunction k, const char *what);
/* Wake every task waiting on the key at `key_idx`, handing each the top
 * `nvals` values (left on the stack). Returns how many were woken. */
int sched_signal(lua_State *L, int key_idx, int nvals);
/* Park the running task for `us` microseconds. `return sched_sleep(...)`. */
int sched_sleep(lua_State *L, uint64_t us);
/* Requeue the running task at the back. `return sched_task_yield(L)`.
 * (Not sched_yield: that is POSIX, and the host exports our symbols.) */
int sched_task_yield(lua_State *L);
/* Raise a Lua error unless L is a task (blocking calls need one). */
sched_task_t *sched_check_task(lua_State *L, const char *what);

/* Lua-facing parts of a task (used by lua_task.c). */
/* Push the task object; false (nothing pushed) if it has ended. */
bool sched_push_task(lua_State *L, sched_task_t *t);
#define SCHED_TASK_MT "luaos.task"
uint32_t sched_task_id(const sched_task_t *t);
const char *sched_task_status(const sched_task_t *t);
/* Cancel a task: it never runs again; joiners get nil, "cancelled". */
void sched_cancel(lua_State *L, sched_task_t *t, int task_idx);

#endif
