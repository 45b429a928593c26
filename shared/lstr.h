/* lstr: Lua strings filled in place. The public API builds a long string
 * by copying a luaL_Buffer into it; a binding that already knows the
 * length (socket receive) writes the bytes straight into the string. */
#ifndef LSTR_H
#define LSTR_H

#include <stddef.h>

#include "lua.h"

/* Pushes a new string of `len` bytes and returns its contents to be
 * written, before anything else runs on L (the contents are garbage
 * until then; the string is not interned). NULL, pushing nothing, when
 * `len` is short (Lua interns those by their contents): build it the
 * usual way. */
char *lstr_push_uninit(lua_State *L, size_t len);

#endif
