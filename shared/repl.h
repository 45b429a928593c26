/* Read-eval-print loop core, shared by the host (fed by readline) and
 * boards (fed byte by byte from the UART). Each entered chunk runs as a
 * task, so the scheduler keeps running tasks and timers at the prompt and
 * a chunk may itself sleep or wait. */
#ifndef REPL_H
#define REPL_H

#include <stdbool.h>
#include <stddef.h>

#include "lua.h"
#include "sched.h"

typedef enum { REPL_READY, REPL_MORE, REPL_RUNNING } repl_state_t;

/* Prepare the REPL (installs its runner). `echo`: boards echo typed bytes. */
void repl_init(lua_State *L, bool echo);
/* A whole line: compiles (as an expression first, then a statement) and
 * spawns it; REPL_MORE when the chunk is incomplete. */
repl_state_t repl_line(lua_State *L, const char *line, size_t len);
/* Byte input with minimal editing (backspace, ^C, ^U, CR/LF). */
void repl_feed(lua_State *L, int c);
/* True while an entered chunk is still running. */
bool repl_busy(void);
/* The entered chunk's task while one runs, else NULL (the Ctrl-C target). */
sched_task_t *repl_running_task(void);
/* Ctrl-C at the prompt: forget the partly entered chunk (">> " lines). */
void repl_cancel_input(lua_State *L);
/* The prompt for the current state ("> " or ">> "). */
const char *repl_prompt(void);
/* Print the prompt through the console if idle and not yet shown. */
void repl_poll_prompt(void);

#endif
