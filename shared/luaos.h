/* Version and small helpers shared by the bindings. */
#ifndef LUAOS_H
#define LUAOS_H

#include <stddef.h>
#include <stdint.h>

#include "lua.h"

#define LUAOS_VERSION "0.1.0"

/* Board/port name reported by sys.board(); set by the port at start-up. */
void luaos_set_board(const char *name);
const char *luaos_board(void);

/* Check a duration argument in milliseconds (integer or float, >= 0) and
 * return it in microseconds; raises "bad argument #arg" otherwise. */
uint64_t luaos_check_ms(lua_State *L, int arg);
/* Same, but nil/none gives `def`. */
uint64_t luaos_opt_ms(lua_State *L, int arg, uint64_t def);

/* Of the NULL-terminated `cands`, the one closest to `word` (edit distance,
 * letter case ignored), or NULL when none is close enough to be a likely
 * typo. Used for "did you mean" hints in error messages. */
const char *luaos_nearest(const char *word, const char *const *cands);

/* Check that every key of the table at `arg` is one of the NULL-terminated
 * `keys`; otherwise raise "bad argument #arg to 'f' (unknown option 'x';
 * did you mean 'y'?)" (with the valid keys listed when nothing is close).
 * Non-string keys are refused too. */
void luaos_check_keys(lua_State *L, int arg, const char *const *keys);

/* Replace the message string on top of the stack with itself plus a hint:
 * "; did you mean 'y'?" when `word` is close to a candidate, otherwise
 * "; valid: a, b, c". */
void luaos_push_hint(lua_State *L, const char *word, const char *const *cands);

/* ---- argument errors that name functions the way the docs do ----
 * luaL_argerror names a function by its call site ('write' for
 * gpio.write(...)); these name it "gpio.write" (found in package.loaded)
 * and a method call "h:cancel", the prefix being the string in the
 * metatable field "__docname" of self (else its "__name"). Same message
 * format otherwise: "bad argument #2 to 'gpio.write' (...)". */
int luaos_argerror(lua_State *L, int arg, const char *extramsg);
/* "bad argument #arg to 'f' (tname expected, got T)" */
int luaos_typeerror(lua_State *L, int arg, const char *tname);
/* luaL_checkinteger, luaL_checklstring, luaL_checktype, luaL_checkudata
 * (`what` names the type in the message, e.g. "timer") with those names. */
lua_Integer luaos_checkinteger(lua_State *L, int arg);
const char *luaos_checklstring(lua_State *L, int arg, size_t *len);
void luaos_checktype(lua_State *L, int arg, int t);
void *luaos_checkudata(lua_State *L, int arg, const char *tname, const char *what);
/* luaL_checkoption whose error lists the valid names or suggests the
 * nearest: "invalid option 'output'; valid: in, out, ...". */
int luaos_checkoption(lua_State *L, int arg, const char *def, const char *const *lst);
/* Appended to "function expected, got T" where a callback is wanted. */
#define LUAOS_FN_HINT "; pass the function itself, not the result of calling it"

#endif
