/* Board description files are outside data: any bytes must give a board
 * or a clear error, never a crash, a hang or a call into a library (the
 * file runs in an empty environment under an instruction budget). */
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "fuzz.h"
#include "modreg.h"
#include "rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A fresh state per input: what one input allocates, it frees, so
   * LeakSanitizer sees every leak (and libFuzzer's per-input leak scan,
   * triggered by unbalanced mallocs, stays rare). */
  static const modreg_config_t cfg; /* no extra modules, no paths */
  lua_State *L = rt_open(0);
  if (!L) abort();
  /* The module system as in luaos (the string library and its metatable
   * included): the board file is evaluated in the app's state. */
  modreg_open(L, &cfg);
  char err[256];
  err[0] = '\0';
  if (board_load(L, (const char *)data, size, "fuzz.lua", err, sizeof err)) {
    board_unload();
  } else if (!err[0]) {
    abort(); /* every failure must say why */
  }
  rt_close(L);
  return 0;
}
