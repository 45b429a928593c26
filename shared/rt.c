#include "rt.h"

#include <stdlib.h>
#include <string.h>

#include "hal/hal_clock.h"
#include "lauxlib.h"
#include "modreg.h"

/* The allocator's bookkeeping lives with the state (its `ud`), so several
 * states could coexist; nothing here is global. */
typedef struct {
  rt_memstats_t stats;
  size_t grace; /* bytes allowed past the limit, see rt_grace */
} rt_alloc_t;

/* Where the blocks come from: libc, unless the host installed its own. */
static rt_backend_fn backend;

void rt_set_backend(rt_backend_fn fn) { backend = fn; }

static void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  rt_alloc_t *a = ud;
  /* When ptr is NULL, osize is a type tag, not a size. */
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    if (backend)
      backend(ptr, old, 0);
    else
      free(ptr);
    a->stats.used -= old;
    return NULL;
  }
  if (nsize > old && a->stats.limit &&
      a->stats.used - old + nsize > a->stats.limit + a->grace) {
    a->stats.fails++;
    return NULL; /* Lua collects garbage and retries, then raises "not enough memory" */
  }
  void *p = backend ? backend(ptr, osize, nsize) : realloc(ptr, nsize);
  if (!p) {
    a->stats.fails++;
    return NULL;
  }
  a->stats.used = a->stats.used - old + nsize;
  if (a->stats.used > a->stats.peak) a->stats.peak = a->stats.used;
  return p;
}

static int rt_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  hal_panic(msg ? msg : "unprotected Lua error (no message)");
  return 0;
}

lua_State *rt_open(size_t limit) {
  rt_alloc_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->stats.limit = limit;
  lua_State *L = lua_newstate(rt_alloc, a);
  if (!L) {
    free(a);
    return NULL;
  }
  lua_atpanic(L, rt_panic);
  /* Lua 5.4's default generational settings are tuned for big heaps;
   * incremental with a lower pause keeps small-device peaks down. */
  lua_gc(L, LUA_GCINC, 150, 100, 0);
  return L;
}

void rt_close(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  lua_close(L);
  free(ud);
}

rt_memstats_t *rt_memstats(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return &((rt_alloc_t *)ud)->stats;
}

size_t rt_grace(lua_State *L, size_t bytes) {
  void *ud;
  lua_getallocf(L, &ud);
  rt_alloc_t *a = ud;
  size_t old = a->grace;
  a->grace = bytes;
  return old;
}

void rt_clarify_load_error(lua_State *L) {
  const char *m = lua_tostring(L, -1);
  if (m && strncmp(m, "attempt to load a binary chunk", 30) == 0) {
    lua_pop(L, 1);
    lua_pushliteral(L, RT_BINARY_REFUSED);
  }
}

/* Bytecode policy: text only. */
bool rt_load(lua_State *L, const char *buf, size_t len, const char *name) {
  if (luaL_loadbufferx(L, buf, len, name, "t") == LUA_OK) return true;
  rt_clarify_load_error(L);
  return false;
}

bool rt_loadfile(lua_State *L, const char *path) {
  if (luaL_loadfilex(L, path, "t") == LUA_OK) return true;
  rt_clarify_load_error(L);
  if (path) {
    const char *m = lua_tostring(L, -1);
    if (m && strcmp(m, RT_BINARY_REFUSED) == 0) {
      lua_pushfstring(L, "%s: %s", path, m);
      lua_remove(L, -2);
    }
  }
  return false;
}

/* Longest error message kept in a traceback: a huge string must not make
 * the report itself fail for lack of memory. */
#define RT_MSG_MAX 2048

static int rt_tostring(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* The message for error value `idx` (any value) pushed on L; may raise
 * (memory). A __tostring that errors or yields is caught by a nested
 * pcall; a huge message is cut. */
static const char *push_message(lua_State *L, int idx) {
  size_t len = 0;
  const char *msg;
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
    msg = lua_tolstring(L, -1, &len);
  } else if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushcfunction(L, rt_tostring);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
      msg = lua_tolstring(L, -1, &len);
    } else {
      lua_pop(L, 1);
      msg = lua_pushfstring(L, "(error object is a %s value; its __tostring failed)",
                            luaL_typename(L, idx));
    }
  } else {
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
  }
  if (len > RT_MSG_MAX) {
    lua_pushlstring(L, msg, RT_MSG_MAX);
    lua_pushfstring(L, "... (%I bytes in all)", (LUA_INTEGER)len);
    lua_concat(L, 2);
    lua_remove(L, -2);
    msg = lua_tostring(L, -1);
  }
  return msg;
}

/* Runs as a message handler (inside the failed call's protection). Any
 * error value gives a string: a __tostring that errors or yields is
 * caught by a nested pcall; a failing allocation here turns the error
 * into "not enough memory", never an abort. */
int rt_traceback(lua_State *L) {
  const char *msg = push_message(L, 1);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int report_body(lua_State *L) {
  lua_State *co = lua_touserdata(L, 1);
  const char *prefix = lua_touserdata(L, 2);
  lua_settop(L, 0);
  lua_xmove(co, L, 1); /* the error value; put back below (no slot needed on co) */
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  const char *msg = push_message(L, 1);
  luaL_traceback(L, co, msg, 0);
  if (prefix) {
    lua_pushstring(L, prefix);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return 1;
}

const char *rt_report(lua_State *L, lua_State *co, const char *prefix) {
  if (!lua_checkstack(L, 4) || lua_gettop(co) == 0) return NULL;
  lua_pushcfunction(L, report_body);
  lua_pushlightuserdata(L, co);
  lua_pushlightuserdata(L, (void *)prefix);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK && lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    return NULL;
  }
  return lua_tostring(L, -1); /* the report, or the error that stopped it ("not enough memory") */
}

bool rt_pcall(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, rt_traceback);
  lua_insert(L, base);
  int st = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return st == LUA_OK;
}
