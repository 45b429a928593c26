/* Runtime: creates the Lua state with a counting allocator, installs the
 * panic handler, opens the module system, and runs chunks with tracebacks. */
#ifndef RT_H
#define RT_H

#include <stdbool.h>
#include <stddef.h>

#include "lua.h"

typedef struct {
  size_t used;   /* bytes in use */
  size_t peak;   /* high-water mark */
  size_t limit;  /* 0: none; allocations past it fail cleanly */
  size_t fails;  /* allocations refused */
} rt_memstats_t;

/* The allocator under the counting one (realloc/free semantics; nsize 0
 * frees; osize is the old size when ptr is set, else, as for lua_Alloc,
 * the type of the new object). Set before rt_open; the accounting (limit,
 * peak) stays exact whatever it does. */
typedef void *(*rt_backend_fn)(void *ptr, size_t osize, size_t nsize);
void rt_set_backend(rt_backend_fn fn);

/* Create a state. limit 0 = unlimited. Returns NULL if even that fails. */
lua_State *rt_open(size_t limit);
void rt_close(lua_State *L);
rt_memstats_t *rt_memstats(lua_State *L);

/* Let allocations go `bytes` past the limit (0: none) and return the
 * previous grace. For the system's own recovery work when the app has
 * filled the heap: the REPL compiles a typed line with RT_GRACE so that
 * "big = nil" can still be entered; the app's code never runs with it. */
size_t rt_grace(lua_State *L, size_t bytes);
#define RT_GRACE (8u * 1024u)

/* Load a source (text) chunk from memory; binary chunks are refused (the
 * bytecode policy, docs/modules.md). On error leaves the message, returns
 * false. */
bool rt_load(lua_State *L, const char *buf, size_t len, const char *name);

/* The same for a file (NULL: stdin); for an app file given by the user. */
bool rt_loadfile(lua_State *L, const char *path);

/* Lua's "attempt to load a binary chunk (mode is 't')" on top of the stack
 * becomes RT_BINARY_REFUSED; any other message stays. */
void rt_clarify_load_error(lua_State *L);
#define RT_BINARY_REFUSED \
  "binary chunk refused: Lua OS loads source text only (see 'Bytecode policy' in docs/modules.md)"

/* Message handler for lua_pcall that appends a traceback. Any error value
 * becomes a string (a failing __tostring included); messages longer than
 * 2 KB are cut. */
int rt_traceback(lua_State *L);

/* Report of an uncaught error in coroutine `co` (error value on its top,
 * left there): pushes onto L "<prefix><message>\nstack traceback:..." built
 * from co's stack and returns it. The message is any value (as
 * rt_traceback). Runs protected and never raises: if the report itself
 * fails (full heap) the pushed string is that error ("not enough
 * memory"); NULL (nothing pushed) only if L's stack cannot grow or co's
 * stack is empty. For the
 * scheduler's uncaught task errors. */
const char *rt_report(lua_State *L, lua_State *co, const char *prefix);

/* Run the function below `nargs` args under a traceback handler; on error
 * leaves the message with its traceback and returns false. */
bool rt_pcall(lua_State *L, int nargs, int nresults);

#endif
