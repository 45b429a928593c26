#include "modreg.h"

#include <stdio.h>
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

/* Registry keys (light userdata). Everything the module system relies on
 * lives here, out of the app's reach: `package`, `package.loaded` and `_G`
 * are app-visible and may hold anything. */
static const char cfg_key = 'c';  /* -> config */
static const char pkg_key = 'p';  /* -> the package table require uses */
static const char mods_key = 'm'; /* -> name -> native/standard module (or placeholder) */
static const char ph_key = 'h';   /* -> metatable shared by the placeholders */

static int open_debug(lua_State *L);

/* Standard libraries opened on first use (global name or require). */
static const luaL_Reg lazy_libs[] = {
    {LUA_COLIBNAME, sched_luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
    {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_DBLIBNAME, open_debug},
#if !defined(LUAOS_TARGET)
    {LUA_IOLIBNAME, luaopen_io},        {LUA_OSLIBNAME, luaopen_os},
#endif
    {NULL, NULL}};

static const modreg_config_t *get_cfg(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &cfg_key);
  const modreg_config_t *cfg = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return cfg;
}

static lua_CFunction find_stdlib(const char *name) {
  for (const luaL_Reg *lib = lazy_libs; lib->name; lib++)
    if (strcmp(lib->name, name) == 0) return lib->func;
  return NULL;
}

static lua_CFunction find_native(const modreg_config_t *cfg, const char *name) {
  for (const modreg_entry_t *e = modreg_core; e->name; e++)
    if (strcmp(e->name, name) == 0) return e->open;
  for (int i = 0; cfg && i < 3; i++)
    for (const modreg_entry_t *e = cfg->extra[i]; e && e->name; e++)
      if (strcmp(e->name, name) == 0) return e->open;
  return NULL;
}

/* Native module or standard library: opened by C, not reloadable. */
static lua_CFunction find_opener(lua_State *L, const char *name) {
  lua_CFunction f = find_stdlib(name);
  return f ? f : find_native(get_cfg(L), name);
}

bool modreg_is_native(lua_State *L, const char *name) {
  return find_opener(L, name) != NULL;
}

/* ---- the debug library, minus what breaks the C code's invariants ----
 *
 * C modules trust three things Lua code cannot normally touch: the
 * metatable of their userdata (luaL_checkudata compares it with the
 * registry's), the registry, the user values of their userdata, their C
 * closures' upvalues and the stack slots of a running C function. Stock
 * debug functions reach all of them (debug.setmetatable(channel,
 * getmetatable(task)) makes a channel pass as a task: memory corruption).
 * App code gets the debug library without those doors; introspection
 * (getinfo, traceback, getlocal, getupvalue, sethook...) is unchanged. */

static int db_refused(lua_State *L) {
  return luaL_error(L, "debug.%s is not available: it would let Lua code reach the system's "
                       "private state (see docs/modules.md)",
                    lua_tostring(L, lua_upvalueindex(1)));
}

static int db_setmetatable(lua_State *L) {
  int t = lua_type(L, 1);
  luaL_argcheck(L, t != LUA_TUSERDATA && t != LUA_TLIGHTUSERDATA, 1,
                "the metatable of a userdata belongs to its C module");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int db_setupvalue(lua_State *L) {
  luaL_argcheck(L, !lua_iscfunction(L, 1), 1, "upvalues of a C function are private");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* debug.setlocal([thread,] level, n, value) for Lua functions only (a C
 * function may hold pointers into the values on its stack). */
static int db_setlocal(lua_State *L) {
  int arg = 0;
  lua_State *L1 = L;
  if (lua_type(L, 1) == LUA_TTHREAD) {
    L1 = lua_tothread(L, 1);
    arg = 1;
  }
  int level = (int)luaL_checkinteger(L, arg + 1);
  int n = (int)luaL_checkinteger(L, arg + 2);
  luaL_checkany(L, arg + 3);
  lua_Debug ar;
  if (!lua_getstack(L1, level, &ar)) return luaL_argerror(L, arg + 1, "level out of range");
  lua_getinfo(L1, "S", &ar);
  if (ar.what[0] == 'C') return luaL_error(L, "cannot change a local of a C function");
  lua_settop(L, arg + 3);
  if (L1 != L) {
    luaL_checkstack(L1, 1, "too many values");
    lua_xmove(L, L1, 1);
  }
  const char *name = lua_setlocal(L1, &ar, n);
  if (name == NULL) lua_pop(L1, 1);
  lua_pushstring(L, name);
  return 1;
}

static int open_debug(lua_State *L) {
  luaopen_debug(L);
  int d = lua_gettop(L);
  static const char *const refused[] = {"getregistry", "getuservalue", "setuservalue", NULL};
  for (const char *const *r = refused; *r; r++) {
    lua_pushstring(L, *r);
    lua_pushcclosure(L, db_refused, 1);
    lua_setfield(L, d, *r);
  }
  lua_getfield(L, d, "setmetatable");
  lua_pushcclosure(L, db_setmetatable, 1);
  lua_setfield(L, d, "setmetatable");
  lua_getfield(L, d, "setupvalue");
  lua_pushcclosure(L, db_setupvalue, 1);
  lua_setfield(L, d, "setupvalue");
  lua_pushcfunction(L, db_setlocal);
  lua_setfield(L, d, "setlocal");
  return 1;
}

/* ---- lazy modules: placeholder tables ----
 *
 * Each lazily opened module (core modules; standard libraries but string
 * and table on the host) is an empty table with a shared metatable, stored
 * at boot in _G and the private registry of modules. Its first use (read,
 * write, pairs, #, or require) opens the library and copies it into the
 * placeholder, which then *is* the module: no metatable of ours is left,
 * identity is the same everywhere (`math == require("math")`), and nothing
 * depends on _G's metatable, so an app may set or clear it. */

bool modreg_is_placeholder(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return false;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ph_key);
  bool is = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return is;
}

/* Opens the module behind the placeholder at `p` (absolute index). */
static void materialize(lua_State *L, int p) {
  int top = lua_gettop(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &mods_key);
  int mods = lua_gettop(L);
  const char *name = NULL;
  lua_pushnil(L);
  while (lua_next(L, mods)) {
    if (lua_rawequal(L, -1, p) && lua_type(L, -2) == LUA_TSTRING) {
      lua_pop(L, 1);
      name = lua_tostring(L, -1); /* the key stays on the stack */
      break;
    }
    lua_pop(L, 1);
  }
  lua_CFunction open = name ? find_opener(L, name) : NULL;
  if (!open) luaL_error(L, "lazy module placeholder without a module");
  /* While the library opens, a finalizer run by the collector may touch
   * the placeholder: it then sees an empty table instead of opening the
   * library a second time (a core module's set-up runs once). */
  lua_pushnil(L);
  lua_setmetatable(L, p);
  lua_pushcfunction(L, open);
  lua_pushstring(L, name);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ph_key);
    lua_setmetatable(L, p); /* still a placeholder: the next use retries */
    lua_error(L);
  }
  int t = lua_gettop(L);
  if (!lua_istable(L, t)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ph_key);
    lua_setmetatable(L, p);
    luaL_error(L, "module '%s' did not return a table", name);
  }
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, p);
  }
  if (!lua_getmetatable(L, t)) lua_pushnil(L);
  lua_setmetatable(L, p); /* the module's own metatable, or none */
  /* Opened: now in package.loaded, as luaL_requiref would do. */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, mods + 1); /* the name (raw: the app may have set a metatable) */
  if (lua_rawget(L, -2) == LUA_TNIL) {
    lua_pushvalue(L, mods + 1);
    lua_pushvalue(L, p);
    lua_rawset(L, -4);
  }
  if (strcmp(name, LUA_STRLIBNAME) == 0) {
    /* luaopen_string set the real string metatable, indexing its table. */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
      lua_pushvalue(L, p);
      lua_setfield(L, -2, "__index");
    }
  }
  lua_settop(L, top);
  /* Small heaps (boards): the table the library was copied from is
   * garbage now; collect it at once rather than carry it (and the
   * placeholder's outgrown hash parts) to the next cycle. */
  const modreg_config_t *cfg = get_cfg(L);
  if (cfg && cfg->lazy_stdlib) lua_gc(L, LUA_GCCOLLECT);
}

static void check_placeholder(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argcheck(L, modreg_is_placeholder(L, 1), 1, "lazy module placeholder expected");
  materialize(L, 1);
}

static int ph_index(lua_State *L) {
  check_placeholder(L);
  lua_settop(L, 2);
  lua_gettable(L, 1);
  return 1;
}

static int ph_newindex(lua_State *L) {
  check_placeholder(L);
  lua_settop(L, 3);
  lua_settable(L, 1);
  return 0;
}

static int ph_len(lua_State *L) {
  check_placeholder(L);
  lua_len(L, 1);
  return 1;
}

/* next() of our own: the global one may have been replaced. */
static int raw_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

static int ph_pairs(lua_State *L) {
  check_placeholder(L);
  if (luaL_getmetafield(L, 1, "__pairs") != LUA_TNIL) {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 3);
    return 3;
  }
  lua_pushcfunction(L, raw_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* Boards open the string library lazily too. Until then the string
 * metatable indexes the placeholder (methods work) and carries the
 * arithmetic events, so "10" + 1 coerces as in stock Lua: each event opens
 * the library and forwards to its metamethod. */
static int lazy_arith(lua_State *L, const char *event, lua_CFunction self) {
  int n = lua_gettop(L);
  lua_pushliteral(L, "");
  if (lua_getmetatable(L, -1) && lua_getfield(L, -1, "__index") == LUA_TTABLE &&
      modreg_is_placeholder(L, -1))
    materialize(L, lua_gettop(L));
  lua_settop(L, n);
  lua_pushliteral(L, "");
  if (!lua_getmetatable(L, -1) || lua_getfield(L, -1, event) != LUA_TFUNCTION ||
      lua_tocfunction(L, -1) == self)
    return luaL_error(L, "string library unavailable for '%s'", event);
  lua_replace(L, n + 1);
  lua_settop(L, n + 1);
  lua_insert(L, 1);
  lua_call(L, n, 1);
  return 1;
}

#define LAZY_ARITH(ev) \
  static int lazy_##ev(lua_State *L) { return lazy_arith(L, "__" #ev, lazy_##ev); }
LAZY_ARITH(add)
LAZY_ARITH(sub)
LAZY_ARITH(mul)
LAZY_ARITH(mod)
LAZY_ARITH(pow)
LAZY_ARITH(div)
LAZY_ARITH(idiv)
LAZY_ARITH(unm)

/* ---- searchers ---- */

/* Loader of native modules and standard libraries: one instance per state
 * (an app that clears package.loaded.gpio gets the same table again, and
 * the library's set-up runs once). */
static int load_native(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &mods_key);
  if (lua_getfield(L, -1, name) != LUA_TNIL) {
    /* require gives an opened module: only globals are lazy. */
    if (modreg_is_placeholder(L, -1)) materialize(L, lua_gettop(L));
    return 1;
  }
  lua_pop(L, 1);
  lua_CFunction open = find_opener(L, name);
  if (!open) return luaL_error(L, "no native module '%s'", name);
  lua_pushcfunction(L, open);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  return 1;
}

bool modreg_push_module(lua_State *L, const char *name) {
  if (!find_opener(L, name)) return false;
  lua_pushcfunction(L, load_native);
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
  return true;
}

static int searcher_native(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (!find_opener(L, name)) {
    lua_pushfstring(L, "no native module '%s'", name);
    return 1;
  }
  lua_pushcfunction(L, load_native);
  lua_pushliteral(L, ":native:");
  return 2;
}

/* Only the build's own bundle is loaded as bytecode. */
static int searcher_bundle(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const struct bundle_entry *e = bundle_find(name);
  if (!e) {
    lua_pushfstring(L, "no module '%s' in the bundled image", name);
    return 1;
  }
  char chunk[64];
  snprintf(chunk, sizeof chunk, "=[bundle]%s", name);
  if (bundle_load(L, e, chunk) != LUA_OK)
    return luaL_error(L, "error loading bundled module '%s': %s", name, lua_tostring(L, -1));
  lua_pushliteral(L, ":bundle:");
  return 2;
}

static void push_package(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &pkg_key);
}

/* Lua files on package.path, loaded as text only; remembers where each
 * module came from so the host can watch the files (`luaos run --watch`). */
static int searcher_file(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  push_package(L);
  if (lua_getfield(L, 2, "path") != LUA_TSTRING)
    return luaL_error(L, "'package.path' must be a string");
  const char *p = lua_tostring(L, 3);
  luaL_gsub(L, name, ".", LUA_DIRSEP); /* 4: name as a relative path */
  luaL_Buffer msg;                      /* "no file" list: any number of entries */
  luaL_buffinit(L, &msg);
  bool first = true;
  while (*p) {
    const char *e = strchr(p, *LUA_PATH_SEP);
    if (!e) e = p + strlen(p);
    if (e > p) {
      lua_pushlstring(L, p, (size_t)(e - p));
      const char *file = luaL_gsub(L, lua_tostring(L, -1), LUA_PATH_MARK, lua_tostring(L, 4));
      lua_remove(L, -2);
      FILE *f = fopen(file, "r");
      if (f) {
        fclose(f);
        if (luaL_loadfilex(L, file, "t") != LUA_OK) {
          rt_clarify_load_error(L);
          return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                            lua_tostring(L, -1));
        }
        lua_getfield(L, LUA_REGISTRYINDEX, MODREG_SOURCES);
        if (lua_istable(L, -1)) {
          lua_pushvalue(L, 1);
          lua_pushvalue(L, -4);
          lua_rawset(L, -3);
        }
        lua_pop(L, 1);
        lua_insert(L, -2); /* loader, file name */
        return 2;
      }
      lua_pushfstring(L, "%sno file '%s'", first ? "" : "\n\t", file);
      lua_remove(L, -2);
      luaL_addvalue(&msg);
      first = false;
    }
    p = *e ? e + 1 : e;
  }
  luaL_pushresult(&msg);
  return 1;
}

/* ---- text-only load, loadfile, dofile ---- */

/* Calls the original base function (upvalue 1) with its mode argument
 * (`mode_arg`) clipped to text. */
static int text_only(lua_State *L, int mode_arg) {
  const char *mode = luaL_optstring(L, mode_arg, "bt");
  bool text = strchr(mode, 't') != NULL;
  if (lua_gettop(L) < mode_arg) lua_settop(L, mode_arg); /* an env argument stays absent */
  lua_pushstring(L, text ? "t" : "");
  lua_replace(L, mode_arg);
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  if (lua_gettop(L) == 2 && lua_isnil(L, 1)) rt_clarify_load_error(L);
  return lua_gettop(L);
}

/* Arguments checked here, so errors name 'load'/'loadfile' (the originals
 * are no longer globals Lua could name). */
static int safe_load(lua_State *L) {
  if (!lua_isstring(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_optstring(L, 2, NULL);
  return text_only(L, 3);
}

static int safe_loadfile(lua_State *L) {
  luaL_optstring(L, 1, NULL);
  return text_only(L, 2);
}

static int dofile_cont(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  return lua_gettop(L) - 1;
}

static int safe_dofile(lua_State *L) {
  const char *fname = luaL_optstring(L, 1, NULL);
  lua_settop(L, 1);
  if (luaL_loadfilex(L, fname, "t") != LUA_OK) {
    rt_clarify_load_error(L);
    return lua_error(L);
  }
  lua_callk(L, 0, LUA_MULTRET, 0, dofile_cont);
  return dofile_cont(L, 0, 0);
}

static void wrap_base(lua_State *L, int g, const char *name, lua_CFunction f) {
  lua_getfield(L, g, name);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, g, name);
}

/* ---- boot ---- */

/* _G[name] and the registry of modules get a placeholder that opens the
 * module on first use (require opens it at once). */
static void add_placeholder(lua_State *L, const char *name, int g, int mods, int ph) {
  lua_newtable(L);
  lua_pushvalue(L, ph);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, g, name);
  lua_setfield(L, mods, name);
}

static int open_body(lua_State *L) {
  const modreg_config_t *cfg = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_pushlightuserdata(L, (void *)cfg);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &cfg_key);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, MODREG_SOURCES);
  log_install_warnf(L);

  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  int g = lua_gettop(L);
  wrap_base(L, g, "load", safe_load);
  wrap_base(L, g, "loadfile", safe_loadfile);
  lua_pushcfunction(L, safe_dofile);
  lua_setfield(L, g, "dofile");
  luaL_requiref(L, LUA_LOADLIBNAME, luaopen_package, 1);
  int pkg = lua_gettop(L);
  lua_pushvalue(L, pkg);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &pkg_key);
  lua_createtable(L, 0, 16); /* sized once: lazy libraries and core modules */
  int mods = lua_gettop(L);
  lua_pushvalue(L, mods);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &mods_key);
  lua_createtable(L, 0, 4);
  int ph = lua_gettop(L);
  static const luaL_Reg ph_events[] = {{"__index", ph_index}, {"__newindex", ph_newindex},
                                       {"__len", ph_len},     {"__pairs", ph_pairs},
                                       {NULL, NULL}};
  luaL_setfuncs(L, ph_events, 0);
  lua_pushvalue(L, ph);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ph_key);

  /* Standard libraries: string and table up front on the host (for code
   * that looks at the string metatable or at _G directly: Busted and its
   * helpers), the rest on first use. */
  for (const luaL_Reg *lib = lazy_libs; lib->func; lib++) {
    bool eager = !cfg->lazy_stdlib && (lib->func == luaopen_string || lib->func == luaopen_table);
    if (eager) {
      luaL_requiref(L, lib->name, lib->func, 1);
      lua_setfield(L, mods, lib->name);
    } else {
      add_placeholder(L, lib->name, g, mods, ph);
    }
  }
  if (cfg->lazy_stdlib) {
    static const luaL_Reg str_events[] = {
        {"__add", lazy_add}, {"__sub", lazy_sub}, {"__mul", lazy_mul},   {"__mod", lazy_mod},
        {"__pow", lazy_pow}, {"__div", lazy_div}, {"__idiv", lazy_idiv}, {"__unm", lazy_unm},
        {NULL, NULL}};
    lua_pushliteral(L, "");
    lua_createtable(L, 0, 9);
    luaL_setfuncs(L, str_events, 0);
    lua_getfield(L, mods, LUA_STRLIBNAME);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
  }
  /* Core modules: globals and require-able, opened on first use. */
  for (const modreg_entry_t *e = modreg_core; e->name; e++)
    add_placeholder(L, e->name, g, mods, ph);

  /* package.searchers: preload, native, [dev files], bundle, [C modules]. */
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
    lua_pushcfunction(L, searcher_file);
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
  return 0;
}

bool modreg_open(lua_State *L, const modreg_config_t *cfg) {
  /* Protected: a heap too small for the boot is a message, not an abort. */
  /* Boot makes almost no garbage: collecting while it allocates only
   * costs instructions (lua.c does the same around luaL_openlibs). */
  bool running = lua_gc(L, LUA_GCISRUNNING);
  if (running) lua_gc(L, LUA_GCSTOP);
  lua_pushcfunction(L, open_body);
  lua_pushlightuserdata(L, (void *)cfg);
  bool ok = lua_pcall(L, 1, 0, 0) == LUA_OK;
  if (running) lua_gc(L, LUA_GCRESTART);
  return ok;
}

/* ---- hot reload ---- */

/* pairs() on a proxy walks the new module (upvalue 1). */
static int proxy_pairs(lua_State *L) {
  lua_pushcfunction(L, raw_next);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  return 3;
}

static int fail(lua_State *L, int base, const char *fmt, const char *arg) {
  lua_settop(L, base);
  lua_pushnil(L);
  lua_pushfstring(L, fmt, arg);
  return 2;
}

/* The error message of a failed rt_pcall on top -> nil, message. */
static int fail_top(lua_State *L) {
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* Runs protected (modreg_reload): light userdata name -> true | nil, err.
 * Reads package.loaded raw and the searchers from require's own package
 * table, type-checked as require does. */
static int reload_body(lua_State *L) {
  const char *name = lua_touserdata(L, 1);
  lua_settop(L, 0);
  if (modreg_is_native(L, name))
    return fail(L, 0, "'%s' is a native module; only Lua modules can be reloaded", name);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* 1 */
  lua_pushstring(L, name);
  if (lua_rawget(L, 1) == LUA_TNIL) return fail(L, 0, "module '%s' is not loaded", name);
  int old = 2;
  push_package(L);
  if (lua_getfield(L, 3, "searchers") != LUA_TTABLE)
    return fail(L, 0, "'package.searchers' must be a table%s", "");
  int searchers = 4;
  int base = lua_gettop(L);
  for (int i = 1;; i++) {
    if (lua_rawgeti(L, searchers, i) == LUA_TNIL) return fail(L, 0, "module '%s' not found", name);
    if (!lua_isfunction(L, -1)) {
      lua_settop(L, 0);
      lua_pushnil(L);
      lua_pushfstring(L, "'package.searchers[%d]' is not a function", i);
      return 2;
    }
    lua_pushstring(L, name);
    if (!rt_pcall(L, 1, 2)) return fail_top(L); /* e.g. a syntax error in the edited file */
    if (lua_isfunction(L, -2)) break;
    lua_settop(L, base);
  }
  /* loader, data -> loader(name, data) */
  lua_pushstring(L, name);
  lua_insert(L, -2);
  if (!rt_pcall(L, 2, 1)) return fail_top(L);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  int mod = lua_gettop(L);
  /* migrate(old) carries state over; a failure keeps the old version. */
  if (lua_istable(L, mod) && lua_getfield(L, mod, "migrate") != LUA_TNIL) {
    lua_pushvalue(L, old);
    if (!rt_pcall(L, 1, 0)) return fail_top(L);
  }
  lua_settop(L, mod);
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
    lua_pushvalue(L, mod);
    lua_pushcclosure(L, proxy_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_setmetatable(L, old);
  }
  lua_pushstring(L, name);
  lua_pushvalue(L, mod);
  lua_rawset(L, 1);
  lua_settop(L, 0);
  lua_pushboolean(L, 1);
  return 1;
}

int modreg_reload(lua_State *L, const char *name) {
  if (!lua_checkstack(L, 4)) return 0;
  lua_pushcfunction(L, reload_body);
  lua_pushlightuserdata(L, (void *)name);
  /* Protected: a full heap or an erroring metamethod is an error message,
   * never an abort (--watch calls this from the loop, outside any task). */
  if (!rt_pcall(L, 1, 2)) { /* rt_traceback makes any error object a string */
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      lua_pushliteral(L, "reload failed");
    }
    return fail_top(L);
  }
  if (lua_toboolean(L, -2)) {
    lua_pop(L, 1);
    return 1;
  }
  return 2;
}
