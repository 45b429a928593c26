/* mps2: what only this board has. Boot figures (for docs/performance.md),
 * the FPGA cycle counter, reset and its cause, watchdog control, and a
 * deliberate fault to check the fault report. */
#include "board.h"
#include "hal/hal_clock.h"
#include "lauxlib.h"
#include "regs.h"
#include "sched.h"

/* boot() -> { ns = , ticks = , heap = } taken when the first prompt was
 * printed; ns is FPGA counter ticks * 40 (25 MHz), which under
 * `qemu -icount shift=0` equals the instructions executed since reset. */
static int mps2_boot(lua_State *L) {
  uint32_t ticks;
  size_t heap;
  if (!mps2_boot_figures(&ticks, &heap)) return 0;
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)ticks);
  lua_setfield(L, -2, "ticks");
  lua_pushinteger(L, (lua_Integer)ticks * (1000000000 / MPS2_SYSCLK_HZ));
  lua_setfield(L, -2, "ns");
  lua_pushinteger(L, (lua_Integer)heap);
  lua_setfield(L, -2, "heap");
  return 1;
}

static int mps2_counter_l(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mps2_counter());
  return 1;
}

static int mps2_reset_l(lua_State *L) {
  (void)L;
  mps2_reset(MPS2_RESET_SOFTWARE);
}

/* boot_failures() -> n, reason: resets by failure in a row while the app
 * was starting (the boot-loop guard's count), and the last one's reason. */
static int mps2_boot_failures_l(lua_State *L) {
  const char *reason;
  lua_pushinteger(L, (lua_Integer)mps2_boot_failures(&reason));
  lua_pushstring(L, reason);
  return 2;
}

/* budget() -> the instruction budget per task resume in force (0: off). */
static int mps2_budget_l(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)sched_budget());
  return 1;
}

static int mps2_reset_cause_l(lua_State *L) {
  lua_pushstring(L, mps2_reset_cause_name(mps2_reset_cause()));
  return 1;
}

/* watchdog([ms]) -> current time-out in ms; with ms, restarts it. */
static int mps2_watchdog_l(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_argcheck(L, ms >= 10 && ms <= 60000, 1, "time-out must be 10..60000 ms");
    mps2_watchdog_start((uint32_t)ms);
  }
  lua_pushinteger(L, (lua_Integer)mps2_watchdog_timeout_ms());
  return 1;
}

/* stack([paint]) -> used, peak, size, guarded: bytes of the main stack in
 * use at this call, the deepest use since the last stack(true) (found by
 * the paint left below it), its size, and whether the MPU guards it.
 * stack(true) paints the free part first. For measuring how much stack a
 * C level costs (docs/boards/mps2-an385.md). */
extern uint32_t __stack_bottom[], __stack_top[];
#define STACK_PAINT 0x5AA5F00Du
#define STACK_PAINT_MARGIN 64u /* words left alone below sp: this frame */

static int mps2_stack_l(lua_State *L) {
  uint32_t *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  if (lua_toboolean(L, 1)) {
    uint32_t *end = (uint32_t *)((uintptr_t)sp - 4u * STACK_PAINT_MARGIN);
    for (uint32_t *w = __stack_bottom; w < end; w++) *w = STACK_PAINT;
  }
  uint32_t *low = __stack_bottom;
  while (low < sp && *low == STACK_PAINT) low++;
  uintptr_t top = (uintptr_t)__stack_top;
  lua_pushinteger(L, (lua_Integer)(top - (uintptr_t)sp));
  lua_pushinteger(L, (lua_Integer)(top - (uintptr_t)low));
  lua_pushinteger(L, (lua_Integer)(top - (uintptr_t)__stack_bottom));
  lua_pushboolean(L, mps2_stack_guarded());
  return 4;
}

/* Recurses until the stack ends: each level keeps a 256-byte frame
 * alive (its bound, 64 MB of stack, is never reached). */
__attribute__((noinline)) static uint32_t mps2_sink(volatile uint32_t *p, uint32_t n) {
  volatile uint32_t frame[64];
  frame[n & 63u] = n;
  if (n > (1u << 18)) return p[0];
  return mps2_sink(frame, n + 1) + p[0];
}

/* fault(["stack"|"panic"]) executes an undefined instruction (the
 * HardFault report), or overflows the C stack (the guard's report), or
 * calls hal_panic; either way the board resets. For testing those paths. */
static int mps2_fault_l(lua_State *L) {
  static const char *const kinds[] = {"udf", "stack", "panic", NULL};
  int kind = luaL_checkoption(L, 1, "udf", kinds);
  if (kind == 2) hal_panic("mps2.fault(\"panic\")");
  if (kind == 1) {
    volatile uint32_t first = 0;
    lua_pushinteger(L, (lua_Integer)mps2_sink(&first, 0));
    return 1;
  }
  __asm__ volatile("udf #0");
  return 0;
}

int luaopen_mps2(lua_State *L) {
  static const luaL_Reg f[] = {{"boot", mps2_boot},           {"counter", mps2_counter_l},
                               {"reset", mps2_reset_l},       {"reset_cause", mps2_reset_cause_l},
                               {"watchdog", mps2_watchdog_l}, {"fault", mps2_fault_l},
                               {"stack", mps2_stack_l},       {"boot_failures", mps2_boot_failures_l},
                               {"budget", mps2_budget_l},
                               {NULL, NULL}};
  luaL_newlib(L, f);
  lua_pushinteger(L, MPS2_SYSCLK_HZ);
  lua_setfield(L, -2, "clock_hz");
  return 1;
}
