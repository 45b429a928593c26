#include "modreg.h"

#include <string.h>

#include "bundle.h"
#include "lauxlib.h"
#include "lualib.h"
#include "rt.h"
#include "sched.h"

const modreg_entry_t modreg_core[] = {
    {"gpio", luaopen_gpio}, {"spi", luaopen_spi}, {"task", luaopen_task},
    {"timer", luaopen_timer}, {"log", luaopen_log}, {"sys", luaopen_sys},
    {NULL, NULL}};

static const char cfg_key = 'c'; /* registry: light userdata -> config */

static const modreg_config_t *get_cfg(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &cfg_key);
  const modreg_config_t *cfg = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return cfg;
}

static lua_CFunction find_native(const modreg_config_t *cfg, const char *name) {
  for (const modreg_entry_t *e = modreg_core; e->name; e++)
    if (strcmp(e->name, name) == 0) return e->open;
  for (int i = 0; cfg && i < 3; i++)
    for (const modreg_entry_t *e = cfg->extra[i]; e && e->name; e++)
      if (strcmp(e->name, name) == 0) return e->open;
  return NULL;
}

bool modreg_is_native(lua_State *L, const char *name) {
  return find_native(get_cfg(L), name) != NULL;
}

static int searcher_native(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_CFunction f = find_native(get_cfg(L), name);
  if (!f) {
    lua_pushfstring(L, "no native module '%s'", name);
    return 1;
  }
  lua_pushcfunction(L, f);
  lua_pushliteral(L, ":native:");
  return 2;
}

static int searcher_bundle(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const struct bundle_entry *e = bundle_find(name);
  if (!e) {
    lua_pushfstring(L, "no module '%s' in the bundled image", name);
    return 1;
  }
  char chunk[64];
  lua_pushfstring(L, "=[bundle]%s", name);
  strncpy(chunk, lua_tostring(L, -1), sizeof chunk - 1);
  chunk[sizeof chunk - 1] = '\0';
  lua_pop(L, 1);
  if (luaL_loadbufferx(L, (const char *)e->data, e->len, chunk, "b") != LUA_OK)
    return luaL_error(L, "error loading bundled module '%s': %s", name, lua_tostring(L, -1));
  lua_pushliteral(L, ":bundle:");
  return 2;
}

/* Wraps Lua's file searcher to remember where each module came from, so
 * the host can watch the files (`luaos run --watch`). */
static int searcher_file(lua_State *L) {
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_call(L, 1, 2);
  if (lua_isfunction(L, -2) && lua_type(L, -1) == LUA_TSTRING) {
    lua_getfield(L, LUA_REGISTRYINDEX, MODREG_SOURCES);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  return 2;
}

/* Standard libraries opened on first use (global name or require). */
static const luaL_Reg lazy_libs[] = {
    {LUA_COLIBNAME, sched_luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
    {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_DBLIBNAME, luaopen_debug},
#if !defined(LUAOS_TARGET)
    {LUA_IOLIBNAME, luaopen_io},        {LUA_OSLIBNAME, luaopen_os},
#endif
    {NULL, NULL}};

/* _G.__index: core modules as globals, opened on first use. */
static int lazy_global(lua_State *L) {
  const char *name = lua_tostring(L, 2);
  if (!name) return 0;
  for (const luaL_Reg *lib = lazy_libs; lib->name; lib++)
    if (strcmp(lib->name, name) == 0) {
      luaL_requiref(L, lib->name, lib->func, 1);
      return 1;
    }
  bool known = false;
  for (const modreg_entry_t *e = modreg_core; e->name; e++)
    if (strcmp(e->name, name) == 0) known = true;
  if (!known) return 0;
  lua_getglobal(L, "require");
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

/* Temporary string metatable: opening the library replaces it. */
static int lazy_string_index(lua_State *L) {
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  lua_pushvalue(L, 2);
  lua_gettable(L, -2);
  return 1;
}

void modreg_open(lua_State *L, const modreg_config_t *cfg) {
  lua_pushlightuserdata(L, (void *)cfg);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &cfg_key);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, MODREG_SOURCES);

  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_LOADLIBNAME, luaopen_package, 1);
  lua_pop(L, 2);
  /* The other standard libraries load on first use, by global name (see
   * lazy_global) or by require: an app pays only for what it uses. */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *lib = lazy_libs; lib->func; lib++) {
    lua_pushcfunction(L, lib->func);
    lua_setfield(L, -2, lib->name);
  }
  lua_pop(L, 1);
  if (cfg->lazy_stdlib) {
    /* String methods ("x"):upper() load the string library on first use. */
    lua_pushliteral(L, "");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, lazy_string_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
  } else {
    /* Host: string and table up front, for code that looks at the string
     * metatable or at _G directly (Busted and its helpers). */
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    lua_pop(L, 2);
  }

  /* package.searchers: preload, native, [dev files], bundle, [C modules]. */
  lua_getglobal(L, "package");
  int pkg = lua_gettop(L);
  lua_getfield(L, pkg, "searchers");
  int old = lua_gettop(L);
  lua_createtable(L, 5, 0);
  int n = 0;
  lua_rawgeti(L, old, 1);
  lua_rawseti(L, -2, ++n);
  lua_pushcfunction(L, searcher_native);
  lua_rawseti(L, -2, ++n);
  if (cfg->devpath || cfg->syspath) {
    lua_pushfstring(L, "%s%s%s", cfg->devpath ? cfg->devpath : "",
                    (cfg->devpath && cfg->syspath) ? ";" : "",
                    cfg->syspath ? cfg->syspath : "");
    lua_setfield(L, pkg, "path");
    lua_rawgeti(L, old, 2);
    lua_pushcclosure(L, searcher_file, 1);
    lua_rawseti(L, -2, ++n);
  } else {
    lua_pushliteral(L, "");
    lua_setfield(L, pkg, "path");
  }
  lua_pushcfunction(L, searcher_bundle);
  lua_rawseti(L, -2, ++n);
  if (cfg->cpath) {
    lua_pushstring(L, cfg->cpath);
    lua_setfield(L, pkg, "cpath");
    lua_rawgeti(L, old, 3);
    lua_rawseti(L, -2, ++n);
  } else {
    lua_pushliteral(L, "");
    lua_setfield(L, pkg, "cpath");
  }
  lua_setfield(L, pkg, "searchers");
  lua_settop(L, pkg - 1);

  /* Lazy core-module globals. */
  lua_pushglobaltable(L);
  lua_newtable(L);
  lua_pushcfunction(L, lazy_global);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

/* ---- hot reload ---- */

static int proxy_pairs(lua_State *L) {
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__index");
  lua_getglobal(L, "next");
  lua_insert(L, -2);
  lua_pushnil(L);
  return 3;
}

int modreg_reload(lua_State *L, const char *name) {
  int top = lua_gettop(L);
  if (modreg_is_native(L, name)) {
    lua_pushnil(L);
    lua_pushfstring(L, "'%s' is a native module; only Lua modules can be reloaded", name);
    return 2;
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  int loaded = lua_gettop(L);
  if (lua_getfield(L, loaded, name) == LUA_TNIL) {
    lua_settop(L, top);
    lua_pushnil(L);
    lua_pushfstring(L, "module '%s' is not loaded", name);
    return 2;
  }
  int old = lua_gettop(L);
  /* Find a loader with the same searchers require uses. */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  int searchers = lua_gettop(L);
  bool found = false;
  for (int i = 1; !found; i++) {
    if (lua_rawgeti(L, searchers, i) == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    lua_pushstring(L, name);
    if (!rt_pcall(L, 1, 2)) { /* e.g. a syntax error in the edited file */
      lua_pushnil(L);
      lua_insert(L, -2);
      lua_rotate(L, top + 1, 2); /* nil, message to just above `top` */
      lua_settop(L, top + 2);
      return 2;
    }
    if (lua_isfunction(L, -2)) {
      found = true;
    } else {
      lua_pop(L, 2);
    }
  }
  if (!found) {
    lua_settop(L, top);
    lua_pushnil(L);
    lua_pushfstring(L, "module '%s' not found", name);
    return 2;
  }
  /* loader, data -> call loader(name, data) */
  int data = lua_gettop(L);
  lua_pushstring(L, name);
  lua_insert(L, data);
  if (!rt_pcall(L, 2, 1)) {
    lua_replace(L, top + 2);
    lua_settop(L, top + 2);
    lua_pushnil(L);
    lua_replace(L, top + 1);
    return 2;
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  int mod = lua_gettop(L);
  /* migrate(old) carries state over; a failure keeps the old version. */
  if (lua_istable(L, mod) && lua_getfield(L, mod, "migrate") != LUA_TNIL) {
    lua_pushvalue(L, old);
    if (!rt_pcall(L, 1, 0)) {
      lua_replace(L, top + 2);
      lua_settop(L, top + 2);
      lua_pushnil(L);
      lua_replace(L, top + 1);
      return 2;
    }
  } else if (lua_istable(L, mod)) {
    lua_pop(L, 1);
  }
  /* Holders of the old table now see the new module: the old table
   * becomes a proxy (reads, writes and pairs go to the new one). */
  if (lua_istable(L, old) && lua_istable(L, mod) && !lua_rawequal(L, old, mod)) {
    lua_pushnil(L);
    while (lua_next(L, old)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, old);
    }
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, mod);
    lua_setfield(L, -2, "__index");
    lua_pushvalue(L, mod);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, proxy_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_setmetatable(L, old);
  }
  lua_pushvalue(L, mod);
  lua_setfield(L, loaded, name);
  lua_settop(L, top);
  lua_pushboolean(L, 1);
  return 1;
}
