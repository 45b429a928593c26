/* Host signals: Ctrl-C and SIGTERM for `luaos run` and the REPL, and the
 * CPU-time tick that lets the scheduler's instruction budget start
 * counting only for long resumes (counting slows the Lua VM). */
#ifndef SIM_SIGNALS_H
#define SIM_SIGNALS_H

#include <stdbool.h>

#include "sched.h"

/* SIGVTALRM every 10 ms of CPU time -> sched_tick(). */
void signals_start_ticks(void);

/* luaos run: SIGINT raises "interrupted" in the running task (a second
 * one exits at once, 130); SIGTERM stops the loop the same way (143). */
void signals_run_install(void);
/* The exit status for a run that ended with `rc`: 130/143 after a signal. */
int signals_run_status(int rc);

/* REPL: SIGINT interrupts the task `running()` returns (the entered chunk),
 * or, with none, is remembered for the idle prompt. */
void signals_repl_install(sched_task_t *(*running)(void));
/* True once per Ctrl-C typed while no chunk was running. */
bool signals_repl_take_idle(void);
void signals_restore(void);

#endif
