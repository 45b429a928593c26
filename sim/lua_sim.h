#ifndef SIM_LUA_SIM_H
#define SIM_LUA_SIM_H

#include "lua.h"

int luaopen_sim(lua_State *L);
/* print() as one console write per call (the stock print writes to stdio
 * directly): through the console hook, so the REPL and the window's
 * console pane see it; stdout gets the same bytes. */
int sim_print(lua_State *L);
/* print and io.write (to stdout) as console writes: sim_print and a
 * wrapper of the stock io.write. */
void sim_console_io(lua_State *L);
/* Benchmark helpers (lua_bench.c). */
int luaopen_bench(lua_State *L);
/* FTDI adapters of the board (lua_hil.c). */
int luaopen_hil(lua_State *L);

#endif
