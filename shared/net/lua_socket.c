/* socket: TCP and UDP on lwIP's raw API (being written; see issue 7). */
#include "lauxlib.h"
#include "net_lua.h"

int luaopen_socket(lua_State *L) {
  lua_newtable(L);
  return 1;
}
