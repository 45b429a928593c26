#ifndef SIM_LUA_SIM_H
#define SIM_LUA_SIM_H

#include "lua.h"

int luaopen_sim(lua_State *L);
/* Benchmark helpers (lua_bench.c). */
int luaopen_bench(lua_State *L);
/* FTDI adapters of the board (lua_hil.c). */
int luaopen_hil(lua_State *L);

#endif
