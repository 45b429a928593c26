/* Lua OS additions to luaconf.h, included by lua.h through LUA_USER_H.
 * Host and board use the same number configuration (64-bit integers,
 * double floats), so one luac serves both and code behaves the same in the
 * simulator and on the device. */
#ifndef LUAOS_LUACONF_H
#define LUAOS_LUACONF_H

#if defined(LUAOS_TARGET)
#include <stddef.h>
/* No stdio on boards: print() and warnings go to the console HAL. */
void hal_console_write(const char *buf, size_t len);
#define lua_writestring(s, l) hal_console_write((s), (l))
#define lua_writeline() hal_console_write("\r\n", 2)
#define lua_writestringerror(s, p) luaos_write_error((s), (p))
void luaos_write_error(const char *fmt, const char *arg);
#endif

/* Lua's C-call limit (nested C calls and parser levels; 200 by default)
 * must fit the C stack. A board with a small stack sets it from its stack
 * size (target/<board>/CMakeLists.txt). */
#if defined(LUAOS_BOARD_MAXCCALLS)
#define LUAI_MAXCCALLS LUAOS_BOARD_MAXCCALLS
#endif

#endif
