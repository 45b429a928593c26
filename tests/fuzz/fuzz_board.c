/* Board description files are outside data: any bytes must give a board
 * or a clear error, never a crash or a hang. */
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "fuzz.h"
#include "rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lua_State *L;
  if (!L) L = rt_open(0); /* one state, as in luaos: leaks must not pile up */
  char err[256];
  if (board_load(L, (const char *)data, size, "fuzz.lua", err, sizeof err)) {
    board_unload();
  } else if (!err[0]) {
    abort(); /* every failure must say why */
  }
  return 0;
}
