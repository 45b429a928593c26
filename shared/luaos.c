#include "luaos.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "lauxlib.h"

static const char *luaos_board_name = "unknown";

void luaos_set_board(const char *name) { luaos_board_name = name; }
const char *luaos_board(void) { return luaos_board_name; }

/* The wheel spans 2^47 us; longer waits are clamped there (4.4 years). */
#define LUAOS_MAX_US ((uint64_t)1 << 47)

uint64_t luaos_check_ms(lua_State *L, int arg) {
  if (lua_type(L, arg) != LUA_TNUMBER) luaos_typeerror(L, arg, "number");
  lua_Number ms = lua_tonumber(L, arg);
  if (!(ms >= 0)) luaos_argerror(L, arg, "duration must be a non-negative number of ms");
  lua_Number us = ms * 1000.0;
  if (us >= (lua_Number)LUAOS_MAX_US) return LUAOS_MAX_US;
  return (uint64_t)ceil(us);
}

uint64_t luaos_opt_ms(lua_State *L, int arg, uint64_t def) {
  return lua_isnoneornil(L, arg) ? def : luaos_check_ms(L, arg);
}

/* ---- "did you mean" ---- */

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Edit distance counting a swap of two neighbours as one edit (the
 * commonest typo), case-insensitive, on at most 32 bytes of each (longer
 * names are never typos of each other in our APIs). */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 32 || lb > 32) return (size_t)-1;
  size_t prev2[33], prev[33], cur[33];
  for (size_t j = 0; j <= lb; j++) prev[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      int ca = lower((unsigned char)a[i - 1]), cb = lower((unsigned char)b[j - 1]);
      size_t best = prev[j - 1] + (ca == cb ? 0 : 1);
      if (prev[j] + 1 < best) best = prev[j] + 1;
      if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
      if (i > 1 && j > 1 && ca == lower((unsigned char)b[j - 2]) &&
          lower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
        best = prev2[j - 2] + 1;
      cur[j] = best;
    }
    memcpy(prev2, prev, sizeof prev);
    memcpy(prev, cur, sizeof cur);
  }
  return prev[lb];
}

const char *luaos_nearest(const char *word, const char *const *cands) {
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  for (const char *const *c = cands; *c; c++) {
    size_t d = edit_distance(word, *c);
    if (d < best_d) {
      best_d = d;
      best = *c;
    }
  }
  /* A typo changes a letter or two: 1 edit for short names, 2 up to 8
   * letters, 3 beyond. */
  size_t len = strlen(word);
  size_t allowed = len <= 4 ? 1 : len <= 8 ? 2 : 3;
  return best && best_d <= allowed ? best : NULL;
}

void luaos_push_hint(lua_State *L, const char *word, const char *const *cands) {
  const char *near = luaos_nearest(word, cands);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushvalue(L, -2);
  luaL_addvalue(&b);
  if (near) {
    luaL_addstring(&b, "; did you mean '");
    luaL_addstring(&b, near);
    luaL_addstring(&b, "'?");
  } else {
    luaL_addstring(&b, "; valid: ");
    for (const char *const *c = cands; *c; c++) {
      if (c != cands) luaL_addstring(&b, ", ");
      luaL_addstring(&b, *c);
    }
  }
  luaL_pushresult(&b);
  lua_remove(L, -2);
}

void luaos_check_keys(lua_State *L, int arg, const char *const *keys) {
  arg = lua_absindex(L, arg);
  luaL_checkstack(L, 4, NULL);
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      luaos_argerror(L, arg, lua_pushfstring(L, "option keys must be strings, got a %s key",
                                            luaL_typename(L, -1)));
    }
    const char *k = lua_tostring(L, -1);
    bool ok = false;
    for (const char *const *c = keys; *c && !ok; c++) ok = strcmp(*c, k) == 0;
    if (!ok) {
      lua_pushfstring(L, "unknown option '%s'", k);
      luaos_push_hint(L, k, keys);
      luaos_argerror(L, arg, lua_tostring(L, -1));
    }
  }
}

/* ---- argument errors ---- */

/* Replace the function on top of the stack with "mod.key" when some
 * loaded module holds it (a module other than _G preferred, then "key"
 * for _G) and return true; otherwise pop it and return false. */
static bool push_module_name(lua_State *L) {
  int fn = lua_gettop(L);
  luaL_checkstack(L, 8, NULL);
  int found = 0; /* 1: in _G, 2: in a module */
  lua_pushnil(L);  /* fn + 1: the name found */
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE) { /* fn + 2 */
    lua_pushnil(L);
    while (found < 2 && lua_next(L, fn + 2)) { /* fn + 3: module name, fn + 4: module */
      if (lua_type(L, fn + 3) == LUA_TSTRING && lua_type(L, fn + 4) == LUA_TTABLE) {
        bool g = strcmp(lua_tostring(L, fn + 3), LUA_GNAME) == 0;
        lua_pushnil(L);
        while (lua_next(L, fn + 4)) { /* fn + 5: key, fn + 6: value */
          if (lua_type(L, fn + 5) == LUA_TSTRING && lua_rawequal(L, fn + 6, fn) &&
              (!g || found == 0)) {
            if (g)
              lua_pushvalue(L, fn + 5);
            else
              lua_pushfstring(L, "%s.%s", lua_tostring(L, fn + 3), lua_tostring(L, fn + 5));
            lua_replace(L, fn + 1);
            found = g ? 1 : 2;
          }
          lua_pop(L, 1);
          if (found == 2) break;
        }
      }
      if (found < 2) lua_pop(L, 1); /* the module; its name stays for lua_next */
    }
  }
  if (!found) {
    lua_settop(L, fn - 1);
    return false;
  }
  lua_copy(L, fn + 1, fn);
  lua_settop(L, fn);
  return true;
}

int luaos_argerror(lua_State *L, int arg, const char *extramsg) {
  lua_Debug ar;
  if (!lua_getstack(L, 0, &ar)) return luaL_error(L, "bad argument #%d (%s)", arg, extramsg);
  lua_getinfo(L, "nf", &ar);
  luaL_checkstack(L, 4, NULL);
  if (ar.namewhat && strcmp(ar.namewhat, "method") == 0) {
    lua_pop(L, 1);
    const char *name = ar.name ? ar.name : "?";
    if (luaL_getmetafield(L, 1, "__docname") == LUA_TSTRING ||
        luaL_getmetafield(L, 1, "__name") == LUA_TSTRING)
      name = lua_pushfstring(L, "%s:%s", lua_tostring(L, -1), name);
    if (--arg == 0) return luaL_error(L, "calling '%s' on bad self (%s)", name, extramsg);
    return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, name, extramsg);
  }
  const char *name = push_module_name(L) ? lua_tostring(L, -1) : ar.name ? ar.name : "?";
  return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, name, extramsg);
}

int luaos_typeerror(lua_State *L, int arg, const char *tname) {
  const char *got;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
    got = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA)
    got = "light userdata";
  else
    got = luaL_typename(L, arg);
  return luaos_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s", tname, got));
}

lua_Integer luaos_checkinteger(lua_State *L, int arg) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, arg, &isnum);
  if (!isnum) {
    if (lua_isnumber(L, arg))
      luaos_argerror(L, arg, "number has no integer representation");
    else
      luaos_typeerror(L, arg, "number");
  }
  return v;
}

const char *luaos_checklstring(lua_State *L, int arg, size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (!s) luaos_typeerror(L, arg, "string");
  return s;
}

void luaos_checktype(lua_State *L, int arg, int t) {
  if (lua_type(L, arg) != t) luaos_typeerror(L, arg, lua_typename(L, t));
}

void *luaos_checkudata(lua_State *L, int arg, const char *tname, const char *what) {
  void *p = luaL_testudata(L, arg, tname);
  if (!p) luaos_typeerror(L, arg, what);
  return p;
}

int luaos_checkoption(lua_State *L, int arg, const char *def, const char *const *lst) {
  const char *name = def && lua_isnoneornil(L, arg) ? def : luaos_checklstring(L, arg, NULL);
  for (int i = 0; lst[i]; i++)
    if (strcmp(lst[i], name) == 0) return i;
  lua_pushfstring(L, "invalid option '%s'", name);
  luaos_push_hint(L, name, lst);
  return luaos_argerror(L, arg, lua_tostring(L, -1));
}
