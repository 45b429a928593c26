/* The simulator's Lua heap allocator (behind rt.c's counting allocator):
 * libc malloc, except that small allocations made for a task (while it is
 * spawned or runs: its record, thread, stack, CallInfos, its first small
 * objects) are packed into one 1.5 KB block of their own, so a wake-up
 * reads a few adjacent cache lines instead of six scattered allocations.
 * ASan/fuzz builds (SIM_ALLOC_PLAIN) and LUAOS_PLAIN_MALLOC=1 use plain
 * malloc, so the sanitizer sees every object. */
#ifndef SIM_ALLOC_H
#define SIM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Install it (before rt_open). False: plain malloc stays. */
bool sim_alloc_install(void);

#endif
