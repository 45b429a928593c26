/* sys: uptime, memory, version, loaded modules, hot reload. */
#include "hal/hal.h"
#include "lauxlib.h"
#include "luaos.h"
#include "modreg.h"
#include "rt.h"
#include "sched.h"

static int sys_uptime(lua_State *L) {
  lua_pushnumber(L, (lua_Number)sched_now() / 1000.0);
  return 1;
}

static struct {
  const char *name;
  size_t (*fn)(void);
} counters[4];

void sys_add_memory_counter(const char *name, size_t (*fn)(void)) {
  for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
    if (!counters[i].name || counters[i].fn == fn) {
      counters[i].name = name;
      counters[i].fn = fn;
      return;
    }
}

static int sys_memory(lua_State *L) {
  rt_memstats_t *m = rt_memstats(L);
  lua_createtable(L, 0, 5);
  for (size_t i = 0; i < sizeof counters / sizeof counters[0] && counters[i].name; i++) {
    lua_pushinteger(L, (lua_Integer)counters[i].fn());
    lua_setfield(L, -2, counters[i].name);
  }
  lua_pushinteger(L, (lua_Integer)m->used);
  lua_setfield(L, -2, "used");
  lua_pushinteger(L, (lua_Integer)m->peak);
  lua_setfield(L, -2, "peak");
  lua_pushinteger(L, (lua_Integer)m->limit);
  lua_setfield(L, -2, "limit");
  lua_pushinteger(L, (lua_Integer)m->fails);
  lua_setfield(L, -2, "fails");
  return 1;
}

static int sys_collect(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT);
  lua_pushinteger(L, (lua_Integer)rt_memstats(L)->used);
  return 1;
}

static int sys_version(lua_State *L) {
  lua_pushliteral(L, "Lua OS " LUAOS_VERSION " (" LUA_RELEASE ")");
  return 1;
}

static int sys_board(lua_State *L) {
  lua_pushstring(L, luaos_board());
  return 1;
}

/* sys.modules() -> { name = version-or-true, ... } for what is loaded
 * (lazy modules not opened yet are left out). */
static int sys_modules(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, -3)) {
    if (lua_type(L, -2) == LUA_TSTRING && !modreg_is_placeholder(L, -1)) {
      lua_pushvalue(L, -2);
      if (lua_istable(L, -2)) { /* raw: a module's metatable (the app's) is not run */
        lua_pushliteral(L, "_VERSION");
        lua_rawget(L, -3);
      } else {
        lua_pushnil(L);
      }
      if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
      }
      lua_rawset(L, -5); /* result[name] = version or true */
    }
    lua_pop(L, 1);
  }
  return 1;
}

static int sys_reload(lua_State *L) {
  const char *name = luaos_checklstring(L, 1, NULL);
  return modreg_reload(L, name);
}

static int sys_tasks(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)sched_task_count());
  return 1;
}

int luaopen_sys(lua_State *L) {
  static const luaL_Reg f[] = {{"uptime", sys_uptime}, {"memory", sys_memory},
                               {"collect", sys_collect}, {"version", sys_version},
                               {"board", sys_board},   {"modules", sys_modules},
                               {"reload", sys_reload}, {"tasks", sys_tasks},
                               {NULL, NULL}};
  luaL_newlib(L, f);
  lua_pushliteral(L, LUAOS_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lua_pushboolean(L, sched_virtual());
  lua_setfield(L, -2, "virtual_time");
  return 1;
}
