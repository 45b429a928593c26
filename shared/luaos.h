/* Version and small helpers shared by the bindings. */
#ifndef LUAOS_H
#define LUAOS_H

#include <stdint.h>

#include "lua.h"

#define LUAOS_VERSION "0.1.0"

/* Board/port name reported by sys.board(); set by the port at start-up. */
void luaos_set_board(const char *name);
const char *luaos_board(void);

/* Check a duration argument in milliseconds (integer or float, >= 0) and
 * return it in microseconds; raises "bad argument #arg" otherwise. */
uint64_t luaos_check_ms(lua_State *L, int arg);
/* Same, but nil/none gives `def`. */
uint64_t luaos_opt_ms(lua_State *L, int arg, uint64_t def);

#endif
