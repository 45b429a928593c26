/* Module system: one static registry of native modules (the same list on
 * host and boards, plus the port's own), the bundle of pure-Lua modules,
 * and on the host a development path on disk that takes precedence. Core
 * modules are also globals, opened on first use. */
#ifndef MODREG_H
#define MODREG_H

#include <stdbool.h>
#include <stddef.h>

#include "lua.h"

typedef struct {
  const char *name;
  lua_CFunction open;
} modreg_entry_t;

typedef struct {
  /* More native modules: drivers/ (drivers_modules) and the port's own;
   * each list NULL-terminated, unused slots NULL. */
  const modreg_entry_t *extra[3];
  const char *devpath;  /* host: package.path prefix searched before the bundle */
  const char *syspath;  /* host: further Lua path (system libraries), may be NULL */
  const char *cpath;    /* host: C module path, NULL on boards */
  /* Also string and table on first use (boards: saves heap and boot
   * time). The other standard libraries always load on first use. */
  bool lazy_stdlib;
} modreg_config_t;

/* The core's native modules, NULL-terminated. */
extern const modreg_entry_t modreg_core[];

/* Open the base libraries and install searchers and lazy modules. Runs
 * protected: false (message on the stack) if the heap is too small. */
bool modreg_open(lua_State *L, const modreg_config_t *cfg);

/* Is `name` a native module (core, driver or port) or a standard library? */
bool modreg_is_native(lua_State *L, const char *name);

/* Push the native module or standard library `name`, opened (the one
 * instance of this state, whatever _G or package.loaded now hold), and
 * return true; false (nothing pushed) for other names. May raise (memory).
 * C code uses this rather than luaL_requiref, which would open a second
 * copy of a library that is still a lazy placeholder. */
bool modreg_push_module(lua_State *L, const char *name);

/* Is the value at `idx` a lazy module not opened yet (docs/modules.md)? */
bool modreg_is_placeholder(lua_State *L, int idx);

/* Reload a loaded module in place (see docs/sys.md). Runs protected, so it
 * may be called from the loop outside any task (--watch). Pushes true, or
 * nil and an error message (always a string); returns the number of values
 * pushed (0 only if the Lua stack cannot grow). */
int modreg_reload(lua_State *L, const char *name);

/* Registry field mapping module name -> file it was loaded from (host). */
#define MODREG_SOURCES "luaos.sources"

/* Native module openers (shared/lua_*.c). */
int luaopen_gpio(lua_State *L);
int luaopen_spi(lua_State *L);
int luaopen_task(lua_State *L);
int luaopen_timer(lua_State *L);
int luaopen_log(lua_State *L);
int luaopen_sys(lua_State *L);

/* Lua warnings (warn(), errors in __gc) as "W lua:" log lines on the
 * console; on at boot (shared/lua_log.c). */
void log_install_warnf(lua_State *L);
/* More memory sys.memory() reports, outside the Lua heap: field `name`
 * (e.g. "net": the network stack's buffers) read from `fn`. Up to 4. */
void sys_add_memory_counter(const char *name, size_t (*fn)(void));

#endif
