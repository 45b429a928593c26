/* A fresh simulator state per fuzz input, booted the way `luaos test`
 * boots one (cli_boot: devkit board, virtual time), then fenced in so that
 * hostile generated code can neither leave the process nor run forever:
 * no os.exit/execute/remove, no io, no C modules, an instruction budget
 * on every thread (inherited by tasks) and a small heap cap.
 * FUZZ_VERBOSE=1 prints uncaught task errors on stderr. */
#ifndef FUZZ_BOOT_H
#define FUZZ_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lua.h"
#include "sched.h"

/* NULL only if the state cannot be built at all (then the harness aborts). */
lua_State *fuzz_boot(size_t mem_limit, const char *app_dir);
void fuzz_shutdown(lua_State *L);

/* Spawn `code` as a task (a syntax error is no crash: returns false). */
int fuzz_spawn(lua_State *L, const char *code, size_t len, const char *name);

/* Run the loop until nothing is left, `us` of virtual time has passed or
 * the budget is spent (instructions, wall-clock time or failed
 * allocations, reset first). */
sched_result_t fuzz_run(lua_State *L, uint64_t us);

/* True (and the loop stopped) once this run's budget is spent; an idle
 * hook of a harness's own calls it too. */
bool fuzz_over_budget(void);

#define FUZZ_BUDGET 500000u    /* Lua instructions per run */
#define FUZZ_WALL_US 1000000u  /* wall-clock time per run (sanitizers are slow) */
/* Failed allocations per run (the heap cap): Lua runs a full collection
 * before each one fails, which no instruction count sees; a program that
 * retries at a full heap thousands of times has shown that path enough. */
#define FUZZ_OOM_MAX 256u

#endif
