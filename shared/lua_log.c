/* log: leveled messages with per-module tags, levels changeable at run time. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hal/hal_console.h"
#include "lauxlib.h"
#include "luaos.h"
#include "modreg.h"
#include "sched.h"

/* Argument errors name functions as the docs do (shared/luaos.h). */
#define ARGCHECK(L, cond, arg, msg) ((void)((cond) || luaos_argerror((L), (arg), (msg))))
#define CHECKANY(L, arg) ((void)(!lua_isnone((L), (arg)) || luaos_argerror((L), (arg), "value expected")))

enum { LV_DEBUG, LV_INFO, LV_WARN, LV_ERROR, LV_OFF };
static const char *const level_names[] = {"debug", "info", "warn", "error", "off", NULL};
static const char level_letters[] = "DIWE";

static const char levels_key = 'l'; /* registry: tag -> level index */
static const char sink_key = 's';   /* registry: sink function or nil */
static const char tags_key = 't';   /* registry: tag -> logger table (cache) */

static int log_default_level = LV_INFO;
static int lua_tag_level = -1; /* level set for tag "lua" (warnings), -1: none */

static int tag_level(lua_State *L, const char *tag) {
  if (!tag) return log_default_level;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &levels_key);
  int lv = log_default_level;
  if (lua_getfield(L, -1, tag) == LUA_TNUMBER) lv = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  return lv;
}

/* string.format of the real string library: the string metatable's
 * __index, which the app cannot replace (the global `string` it can). */
static void push_format(lua_State *L) {
  lua_pushliteral(L, "");
  if (luaL_getmetafield(L, -1, "__index") != LUA_TTABLE)
    luaL_error(L, "log: string library unavailable");
  if (lua_getfield(L, -1, "format") != LUA_TFUNCTION)
    luaL_error(L, "log: string.format is not a function");
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* "bad argument #K to 'NAME' (DETAIL": K, and DETAIL up to the line's end
 * in `detail`; 0 when msg is not that. (Not sscanf: on the board it
 * would link 3 KB of newlib's scanf for this one line.) */
static int argerror_parts(const char *msg, char *detail, size_t size) {
  static const char head[] = "bad argument #";
  if (strncmp(msg, head, sizeof head - 1) != 0) return 0;
  const char *p = msg + sizeof head - 1;
  if (*p < '0' || *p > '9') return 0;
  int k = 0;
  for (; *p >= '0' && *p <= '9'; p++)
    if (k < 1000000) k = k * 10 + (*p - '0');
  if (strncmp(p, " to '", 5) != 0) return 0;
  p += 5;
  const char *q = strchr(p, '\'');
  if (!q || q == p || strncmp(q, "' (", 3) != 0) return 0;
  p = q + 3;
  size_t n = 0;
  while (p[n] && p[n] != '\n' && n + 1 < size) n++;
  if (n == 0) return 0;
  memcpy(detail, p, n);
  detail[n] = '\0';
  return k;
}

/* Format the message from args starting at `first`: a lone value is
 * tostring'ed; with more args the first is a string.format pattern. The
 * arguments are formatted in place (any number of them: nothing is
 * copied), leaving the message at `first`. */
static void push_message(lua_State *L, int first) {
  int n = lua_gettop(L) - first + 1;
  if (n <= 1) {
    luaL_tolstring(L, first, NULL);
    return;
  }
  push_format(L);
  lua_insert(L, first);
  if (lua_pcall(L, n, 1, 0) == LUA_OK) return;
  /* A bad format argument is the caller's: "bad argument #2 to 'log.info'"
   * rather than to 'string.format' (format's #k is this function's). */
  const char *msg = lua_tostring(L, -1);
  char detail[160];
  int k = msg ? argerror_parts(msg, detail, sizeof detail) : 0;
  if (k >= 1) {
    size_t dl = strlen(detail);
    if (dl > 0 && detail[dl - 1] == ')') detail[dl - 1] = '\0';
    luaos_argerror(L, first + k - 1, detail);
  }
  lua_error(L);
}

static int emit(lua_State *L, int level, const char *tag, int first) {
  if (level < tag_level(L, tag)) return 0;
  CHECKANY(L, first);
  push_message(L, first);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &sink_key) == LUA_TFUNCTION) {
    lua_pushstring(L, level_names[level]);
    if (tag)
      lua_pushstring(L, tag);
    else
      lua_pushnil(L);
    lua_pushvalue(L, -4);
    lua_call(L, 3, 0);
    return 0;
  }
  lua_pop(L, 1);
  uint64_t us = sched_now();
  char head[48];
  int len = snprintf(head, sizeof head, "[%6lu.%03lu] %c ", (unsigned long)(us / 1000000u),
                     (unsigned long)((us / 1000u) % 1000u), level_letters[level]);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, head, (size_t)len);
  if (tag) {
    luaL_addstring(&b, tag);
    luaL_addstring(&b, ": ");
  }
  lua_pushvalue(L, -2);
  luaL_addvalue(&b);
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  hal_console_write(s, n);
  return 0;
}

#define PLAIN(name, lv) \
  static int log_##name(lua_State *L) { return emit(L, lv, NULL, 1); }
PLAIN(debug, LV_DEBUG)
PLAIN(info, LV_INFO)
PLAIN(warn, LV_WARN)
PLAIN(error, LV_ERROR)

/* Tagged loggers carry (tag, logger) as upvalues; both lg.info(...) and
 * lg:info(...) work. */
static int self_args(lua_State *L) {
  return lua_rawequal(L, 1, lua_upvalueindex(2)) ? 2 : 1;
}
#define TAGGED(name, lv)                                                        \
  static int tag_##name(lua_State *L) {                                         \
    return emit(L, lv, lua_tostring(L, lua_upvalueindex(1)), self_args(L));     \
  }
TAGGED(debug, LV_DEBUG)
TAGGED(info, LV_INFO)
TAGGED(warn, LV_WARN)
TAGGED(error, LV_ERROR)

/* level() -> default; level(lv) sets default; level(tag, lv) sets a tag's;
 * level(tag, nil) clears it. Returns the previous level. */
static int log_level(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) {
    lua_pushstring(L, level_names[log_default_level]);
    return 1;
  }
  if (n == 1) {
    int lv = luaos_checkoption(L, 1, NULL, level_names);
    lua_pushstring(L, level_names[log_default_level]);
    log_default_level = lv;
    return 1;
  }
  const char *tag = luaos_checklstring(L, 1, NULL);
  lua_pushstring(L, level_names[tag_level(L, tag)]);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &levels_key);
  if (lua_isnil(L, 2))
    lua_pushnil(L);
  else
    lua_pushinteger(L, luaos_checkoption(L, 2, NULL, level_names));
  if (strcmp(tag, "lua") == 0) lua_tag_level = lua_isnil(L, -1) ? -1 : (int)lua_tointeger(L, -1);
  lua_setfield(L, -2, tag);
  lua_pop(L, 1);
  return 1;
}

static int tag_level_fn(lua_State *L) {
  if (self_args(L) == 2) lua_remove(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  if (lua_gettop(L) == 1) {
    lua_pushstring(L, level_names[tag_level(L, lua_tostring(L, 1))]);
    return 1;
  }
  lua_settop(L, 2);
  return log_level(L);
}

/* log.tag(name) -> logger with debug/info/warn/error/level */
static int log_tag(lua_State *L) {
  const char *tag = luaos_checklstring(L, 1, NULL);
  ARGCHECK(L, tag[0] != '\0', 1, "tag must not be empty");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tags_key);
  if (lua_getfield(L, -1, tag) == LUA_TTABLE) return 1;
  lua_pop(L, 1);
  static const luaL_Reg m[] = {{"debug", tag_debug}, {"info", tag_info}, {"warn", tag_warn},
                               {"error", tag_error}, {"level", tag_level_fn}, {NULL, NULL}};
  lua_createtable(L, 0, 6);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, m, 2);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "name");
  if (luaL_newmetatable(L, "luaos.logger")) { /* errors say 'lg:info', as docs/log.md */
    lua_pushliteral(L, "lg");
    lua_setfield(L, -2, "__docname");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, tag);
  return 1;
}

/* ---- Lua warnings ----
 * warn("...") and errors in finalizers (__gc) reach the console as log
 * lines "[time] W lua: ...", filtered by the level of tag "lua" (or the
 * default). The warning function may run inside the collector, so it calls
 * no Lua at all (hence no sink) and writes the pieces as they come. */
static struct {
  bool on;
  bool cont; /* inside a multi-piece message */
  bool shown; /* the message being written passes the level filter */
} W;

static void warn_head(void) {
  uint64_t us = sched_now();
  char head[48];
  int len = snprintf(head, sizeof head, "[%6lu.%03lu] W lua: ", (unsigned long)(us / 1000000u),
                     (unsigned long)((us / 1000u) % 1000u));
  if (len > 0) hal_console_write(head, (size_t)len < sizeof head ? (size_t)len : sizeof head - 1);
}

static void log_warnf(void *ud, const char *msg, int tocont) {
  (void)ud;
  if (!W.cont && !tocont && msg[0] == '@') { /* control message */
    if (strcmp(msg, "@off") == 0) W.on = false;
    else if (strcmp(msg, "@on") == 0) W.on = true;
    return;
  }
  if (!W.cont) {
    int lv = lua_tag_level >= 0 ? lua_tag_level : log_default_level;
    W.shown = W.on && LV_WARN >= lv;
    if (W.shown) warn_head();
  }
  if (W.shown) hal_console_write(msg, strlen(msg));
  W.cont = tocont != 0;
  if (!W.cont && W.shown) hal_console_write("\n", 1);
}

void log_install_warnf(lua_State *L) {
  W.on = true;
  W.cont = false;
  lua_setwarnf(L, log_warnf, NULL);
}

/* log.sink(fn) routes messages to fn(level, tag, msg) instead of the
 * console; log.sink(nil) restores the console. */
static int log_sink(lua_State *L) {
  if (!lua_isnoneornil(L, 1) && !lua_isfunction(L, 1))
    luaos_argerror(L, 1, lua_pushfstring(L, "function expected, got %s%s", luaL_typename(L, 1),
                                         LUAOS_FN_HINT));
  lua_settop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &sink_key);
  return 0;
}

int luaopen_log(lua_State *L) {
  static const luaL_Reg f[] = {{"debug", log_debug}, {"info", log_info}, {"warn", log_warn},
                               {"error", log_error}, {"level", log_level}, {"tag", log_tag},
                               {"sink", log_sink},   {NULL, NULL}};
  log_default_level = LV_INFO;
  lua_tag_level = -1;
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &levels_key);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tags_key);
  luaL_newlib(L, f);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
