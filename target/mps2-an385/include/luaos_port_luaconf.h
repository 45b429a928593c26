/* MPS2 AN385 additions to the Lua configuration (LUA_USER_H for this
 * board, see cmake/lua.cmake). Only how numbers are written and read
 * changes, not their types, so bytecode from the host luac still loads.
 *
 * newlib-nano's snprintf knows neither %lld nor floating point, and its
 * strtod costs ~10 KB: Lua's number <-> text conversions go through
 * numfmt.c instead, which gives the same text as glibc on the host. */
#ifndef LUAOS_PORT_LUACONF_H
#define LUAOS_PORT_LUACONF_H

#include "luaos_luaconf.h"

#include <stddef.h>

int numfmt_snprintf(char *buf, size_t size, const char *fmt, ...);
double numfmt_strtod(const char *s, char **end);

#undef l_sprintf
#define l_sprintf(s, sz, f, i) numfmt_snprintf((s), (sz), (f), (i))

#undef lua_str2number
#define lua_str2number(s, p) ((lua_Number)numfmt_strtod((s), (p)))

/* Hexadecimal numerals: Lua's own reader (lobject.c) rather than strtod. */
#undef lua_strx2number

/* No locales on the board: skip localeconv(). */
#undef lua_getlocaledecpoint
#define lua_getlocaledecpoint() '.'

/* Lua's stack limit (slots per coroutine; 1 000 000 by default, ~16 MB of
 * 16-byte slots plus a ~40-byte call record per level) is beyond this
 * board's 3.7 MB heap: a runaway Lua recursion ended in "not enough
 * memory" instead of the host's "stack overflow". With 30 000 slots a
 * simple recursion stops after ~30 000 levels at ~2 MB of heap (50 000
 * still ran out, fragmented by the stack's doubling reallocations). It
 * also bounds how many values one call can take or return (table.unpack,
 * string.byte: "too many results"). */
#undef LUAI_MAXSTACK
#define LUAI_MAXSTACK 30000

/* The API string cache (lua_pushstring & co. of C strings) is 53x2
 * pointers in the global state; on this board's ~12 KB idle heap 424
 * bytes is a lot for it. A 17x1 cache keeps most repeated names cached. */
#define STRCACHE_N 17
#define STRCACHE_M 1

#endif
