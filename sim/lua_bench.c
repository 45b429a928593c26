/* bench: baselines for the benchmarks in bench/ (simulator only): an empty
 * C function to compare binding overhead against, and a nanosecond clock. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "lauxlib.h"
#include "lua_sim.h"

static int bench_nop(lua_State *L) {
  (void)L;
  return 0;
}

static int bench_now_ns(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000000000 + ts.tv_nsec);
  return 1;
}

int luaopen_bench(lua_State *L) {
  static const luaL_Reg f[] = {{"nop", bench_nop}, {"now_ns", bench_now_ns}, {NULL, NULL}};
  luaL_newlib(L, f);
  return 1;
}
