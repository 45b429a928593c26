/* Module loading: the input is the text of a module file on the app's
 * path, loaded the ways an app can (require through the searchers, the
 * same text with load/loadfile/dofile, then sys.reload), in a state set up
 * like the simulator's. Syntax errors, runtime errors, any return values
 * (tables with hostile metatables, functions, many values), tasks and
 * timers the module starts: errors, never a crash. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_boot.h"
#include "lauxlib.h"

/* Runs as the first task, like an app; FZSRC is the module text. */
static const char driver[] =
    "local sys, path = require('sys'), ...\n"
    "local probe\n"
    "local function probe_field(k, x) tostring(k) if type(x) == 'function' then pcall(x) end end\n"
    "probe = function(v)\n"
    "  pcall(tostring, v)\n"
    "  if type(v) == 'table' then\n"
    "    pcall(function() for k, x in pairs(v) do probe_field(k, x) end end)\n"
    "  elseif type(v) == 'function' then\n"
    "    pcall(v)\n"
    "  end\n"
    "end\n"
    "for _ = 1, 2 do\n"
    "  local ok, m = pcall(require, 'fz')\n"
    "  if ok then probe(m) end\n"
    "  pcall(sys.reload, 'fz')\n"
    "  probe(package.loaded.fz)\n"
    "end\n"
    "pcall(function() local g = assert(loadfile(path, 't')) probe(g()) end)\n"
    "pcall(function() probe(dofile(path)) end)\n"
    "pcall(function() local g = load(FZSRC, '=fz', 't') if g then probe(g()) end end)\n"
    "package.loaded.fz = nil\n"
    "pcall(require, 'fz')\n";

static char dir[64], path[96];

static void cleanup(void) {
  unlink(path);
  rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/luaos-fuzz-module-XXXXXX");
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/fz.lua", dir);
    atexit(cleanup);
  }
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
  lua_State *L = fuzz_boot(1u << 20, dir);
  if (!L) abort();
  lua_pushlstring(L, (const char *)data, size);
  lua_setglobal(L, "FZSRC");
  if (luaL_loadbufferx(L, driver, sizeof driver - 1, "=fuzz", "t") != LUA_OK) abort();
  lua_pushstring(L, path);
  sched_spawn(L, 1);
  lua_pop(L, 1);
  fuzz_run(L, 2u * 1000 * 1000);
  fuzz_shutdown(L);
  return 0;
}
