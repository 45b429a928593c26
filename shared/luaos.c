#include "luaos.h"

#include <math.h>

#include "lauxlib.h"

static const char *luaos_board_name = "unknown";

void luaos_set_board(const char *name) { luaos_board_name = name; }
const char *luaos_board(void) { return luaos_board_name; }

/* The wheel spans 2^47 us; longer waits are clamped there (4.4 years). */
#define LUAOS_MAX_US ((uint64_t)1 << 47)

uint64_t luaos_check_ms(lua_State *L, int arg) {
  lua_Number ms = luaL_checknumber(L, arg);
  luaL_argcheck(L, ms >= 0 && !isnan(ms), arg, "duration must be a non-negative number of ms");
  lua_Number us = ms * 1000.0;
  if (us >= (lua_Number)LUAOS_MAX_US) return LUAOS_MAX_US;
  return (uint64_t)ceil(us);
}

uint64_t luaos_opt_ms(lua_State *L, int arg, uint64_t def) {
  return lua_isnoneornil(L, arg) ? def : luaos_check_ms(L, arg);
}
