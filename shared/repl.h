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

/* The longest line or multi-line chunk accepted (bytes). */
#ifndef REPL_INPUT_MAX
#ifdef LUAOS_TARGET
#define REPL_INPUT_MAX (16u * 1024u)
#else
#define REPL_INPUT_MAX (1024u * 1024u)
#endif
#endif

typedef enum { REPL_READY, REPL_MORE, REPL_RUNNING } repl_state_t;

/* Prepare the REPL (installs its runner). `echo`: boards echo typed bytes. */
void repl_init(lua_State *L, bool echo);
/* A whole line: compiles (as an expression first, then a statement) and
 * spawns it; REPL_MORE when the chunk is incomplete. */
repl_state_t repl_line(lua_State *L, const char *line, size_t len);
/* Byte input with minimal editing (backspace, ^C, ^U, CR, LF, CR LF).
 * Lines may be up to REPL_INPUT_MAX bytes (the first 256 in a static
 * buffer, longer ones on the Lua heap); a longer line or chunk is dropped
 * with "line too long (max N bytes)". */
void repl_feed(lua_State *L, int c);
/* End of input: runs a last line that had no newline; an incomplete chunk
 * is reported as the syntax error it is. */
repl_state_t repl_end(lua_State *L);
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
