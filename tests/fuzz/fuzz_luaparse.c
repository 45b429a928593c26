#include "fuzz_luaparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_boot.h"
#include "lauxlib.h"

#define FUZZ_STATE_INPUTS 2000 /* a fresh state now and then: no drift */

static lua_State *state;
static int fn_ref = LUA_NOREF;
static unsigned uses;

static void boot(const char *driver) {
  if (state) fuzz_shutdown(state);
  /* app_dir set: the development path (the source tree's lua/) is on. */
  state = fuzz_boot(8u << 20, LUAOS_SOURCE_DIR "/lua");
  if (!state) abort();
  if (luaL_loadbufferx(state, driver, strlen(driver), "=driver", "t") != LUA_OK ||
      lua_pcall(state, 0, 1, 0) != LUA_OK || !lua_isfunction(state, -1)) {
    fprintf(stderr, "fuzz driver: %s\n", lua_tostring(state, -1));
    abort();
  }
  fn_ref = luaL_ref(state, LUA_REGISTRYINDEX);
  uses = 0;
}

void fuzz_luaparse(const char *driver, const uint8_t *data, size_t size) {
  if (!state || ++uses > FUZZ_STATE_INPUTS) boot(driver);
  lua_State *L = state;
  fuzz_run(L, 0); /* resets this input's instruction and time budget */
  lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_isstring(L, -1)) {
    fprintf(stderr, "fuzz: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  if (fuzz_over_budget()) boot(driver); /* its threads were unwound */
}
