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

/* A C-level timer: zero it (idle) before its first start. `fn` runs in
 * the loop (not in a task), under lua_pcall: it may allocate or raise; an
 * error is reported like a task's. The same holds for source handlers and
 * the idle hook. */
typedef struct sched_timer {
  tw_timer_t tw;
  void (*fn)(lua_State *L, struct sched_timer *t);
} sched_timer_t;

/* Called for each event drained from a ring, in the loop. */
typedef void (*sched_source_fn)(lua_State *L, const evring_event_t *ev, void *ud);

/* Called (under lua_pcall) for an uncaught error: a string on top of L's
 * stack, normally "task N: message" and a traceback; with the heap full
 * it may be shorter. Return true to keep running, false to stop sched_run
 * with SCHED_ERROR (the message stays on the stack). */
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

/* Placement hint for the port's allocator: while a task is spawned or
 * runs, the address of a slot the allocator may keep that task's block of
 * small objects in (NULL otherwise). See sim/alloc.c. */
void **sched_alloc_group(void);

/* Keep-alive references: something outside the run queue and the timers
 * can still wake tasks (interrupt handlers, a REPL). */
void sched_ref(int delta);

void sched_timer_start(sched_timer_t *t, uint64_t at_us);
void sched_timer_stop(sched_timer_t *t);
/* Mark one timer as housekeeping (the network stack's): while it is the
 * only timer armed, the loop counts as idle, so an app whose work is done
 * still ends. NULL: none. */
void sched_set_weak_timer(sched_timer_t *t);

void sched_add_source(evring_t *ring, sched_source_fn fn, void *ud);
/* Called each time the loop has run everything ready and is about to wait
 * (a REPL shows its prompt here). NULL removes it. */
void sched_set_idle_hook(void (*fn)(lua_State *L, void *ud), void *ud);
void sched_set_error_handler(sched_error_fn fn, void *ud);

/* An intrusive FIFO of parked tasks, embedded in whatever they wait for
 * (a channel, a task's joiners): parking and waking allocate nothing. */
typedef struct sched_waitq {
  sched_task_t *head, *tail;
  /* For sched_hand: takes back (pops) a handed value from the top of L
   * when its task is cancelled or interrupted before it could run. */
  void (*undelivered)(lua_State *L, struct sched_waitq *q);
  /* Set for queues woken from outside the loop (network input): a task
   * parked here keeps the loop alive, as a sched_ref would, and cannot
   * count as a deadlock. */
  bool keepalive;
} sched_waitq_t;

/* Park the running task on `q` until sched_wake() or the timeout
 * (microseconds from now, UINT64_MAX: none); `return sched_wait_on(...)`.
 * It resumes with no values, or with nil, "timeout"; `k`/`ctx` as for
 * lua_yieldk. The object holding `q` must stay reachable from the task's
 * stack while it waits (e.g. the channel is an argument). */
int sched_wait_on(lua_State *L, sched_waitq_t *q, uint64_t timeout_us, lua_KContext ctx,
                  lua_KFunction k, const char *what);
/* Wake up to `max` (< 0: all) tasks parked on `q`, oldest first. A task
 * woken this way that is cancelled or interrupted before it runs passes
 * the wake-up on to the next waiter. Allocation-free. Returns how many. */
int sched_wake(sched_waitq_t *q, int max);
/* Wake the oldest task parked on `q`, handing it the value on top of L
 * (popped) as its only resume value. False (nothing popped) if none waits. */
bool sched_hand(lua_State *L, sched_waitq_t *q);
static inline bool sched_waitq_empty(const sched_waitq_t *q) { return q->head == 0; }
/* Before the memory of an empty `q` is freed while tasks it woke have not
 * run yet: they forget where their wake-up came from (a cancelled one
 * then passes nothing on; a handed value is still delivered). */
void sched_waitq_forget(sched_waitq_t *q);

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
/* Cancel a task: it never runs again, its pending `<close>` variables run,
 * joiners get nil, "cancelled". Refused (Lua error) for the running task.
 * Raises the error of a failing `__close`, after the task has ended. */
void sched_cancel(lua_State *L, sched_task_t *t, int task_idx);
/* The task whose coroutine `co` is, or NULL (main thread, plain coroutine). */
sched_task_t *sched_task_of_thread(lua_State *co);
bool sched_task_dead(const sched_task_t *t);
/* Push a dead task's outcome: true, results... | nil, error; returns the
 * count (stack checked: a clean error when it cannot grow). */
int sched_push_results(lua_State *L, int task_idx);
/* Park the running task until the task at `task_idx` has ended; it
 * resumes with no values (then sched_task_dead) or nil, "timeout". */
int sched_join(lua_State *L, int task_idx, uint64_t timeout_us, lua_KContext ctx,
               lua_KFunction k);

/* ---- runaway code and interrupts ----
 * Budget: a task that runs `instructions` VM instructions in one resume
 * without yielding is stopped with "task N (file:line): exceeded its
 * instruction budget of N without yielding". 0 = off. Counting costs VM
 * speed, so on a port that calls sched_tick() (after sched_use_ticks(true))
 * counting starts only once a resume has lasted over one tick; without
 * ticks every resume is counted from its start. */
void sched_set_budget(uint32_t instructions);
uint32_t sched_budget(void);
void sched_use_ticks(bool on);
/* Async-signal/ISR-safe: call periodically (host: every 10 ms of CPU). */
void sched_tick(void);
/* Async-signal-safe: raise "interrupted" (with a traceback) in the running
 * task, or in the interrupt target as soon as it runs again (a parked
 * target is woken to receive it). With no target and no task to receive
 * it, sched_run returns SCHED_ERROR with "interrupted". */
void sched_interrupt(void);
/* NULL: whatever task is running. Cleared when the target ends. */
void sched_set_interrupt_target(sched_task_t *t);
/* The coroutine library with resume/close refusing tasks' own threads
 * (those belong to the scheduler). For modreg's lazy library table. */
int sched_luaopen_coroutine(lua_State *L);

#endif
