/* Firmware entry: bring up the board, create the Lua system exactly as the
 * simulator does (rt_open -> sched_init -> modreg_open), then run the
 * bundled app "main" if there is one, else (and after it ends) the REPL on
 * UART0. */
#include <string.h>

#include "board.h"
#include "bundle.h"
#include "drivers.h"
#include "hal/hal_clock.h"
#include "hal/hal_console.h"
#include "lauxlib.h"
#include "luaos.h"
#include "modreg.h"
#include "regs.h"
#include "repl.h"
#include "rt.h"
#include "sched.h"
#if MAIN_NET
#include "eth/lan9118.h"
#include "net.h"
#include "net_modules.h"
#define MAIN_NET_MODULES net_modules
#else
#define MAIN_NET_MODULES NULL
#endif

#define MAIN_WATCHDOG_MS 4000u   /* NMI report after 4 s stuck, reset after 8 s */
#define MAIN_FEED_US 500000u     /* the loop feeds the watchdog twice a second */
#define MAIN_PROMPT_POLL_US 1000u /* while a REPL chunk runs */
/* Instruction budget per resume of a task (LUAOS_TASK_BUDGET, board
 * CMakeLists.txt): a task that runs this many Lua instructions without
 * yielding is stopped with an error, before the watchdog (4 s) would
 * reset the board. */
#ifndef MAIN_TASK_BUDGET
#define MAIN_TASK_BUDGET 1000000u
#endif
/* Boot-loop guard: an app that made the board reset (watchdog, fault,
 * panic) within MAIN_HEALTHY_US of starting, MAIN_BOOT_FAILURES times in a
 * row, is not started again: the board stops at the REPL and says why. */
#define MAIN_BOOT_FAILURES 3u
#define MAIN_HEALTHY_US 10000000u

static const modreg_entry_t mps2_modules[] = {{"mps2", luaopen_mps2}, {NULL, NULL}};

/* modreg keeps a pointer to its configuration: static, read-only. */
static const modreg_config_t main_modcfg = {
    .extra = {drivers_modules, mps2_modules, MAIN_NET_MODULES},
    .lazy_stdlib = true,
};

static struct {
  bool repl;            /* the console belongs to the REPL */
  bool repl_loaded;     /* repl_init() done: on the first byte typed */
  bool booted;          /* first prompt printed */
  uint32_t boot_ticks;  /* FPGA counter (25 MHz from reset) at the first prompt */
  size_t boot_heap;     /* Lua heap in use then */
  sched_timer_t prompt;
  sched_timer_t feed;
  sched_timer_t healthy;
} M;

bool mps2_boot_figures(uint32_t *counter_ticks, size_t *heap_used) {
  if (!M.booted) return false;
  *counter_ticks = M.boot_ticks;
  *heap_used = M.boot_heap;
  return true;
}

static void start_repl(lua_State *L);

/* Periodic: feed the watchdog; once the app has no task left (it returned;
 * its timers and pin handlers may live on), open the REPL next to them. */
static void feed_tick(lua_State *L, sched_timer_t *t) {
  mps2_watchdog_feed();
  if (!M.repl && sched_task_count() == 0) start_repl(L);
  sched_timer_start(t, sched_now() + MAIN_FEED_US);
}

/* The REPL waits for a person: a good moment to return the garbage of the
 * last command (or of boot) to the heap. A full cycle over the ~12 KB
 * heap of an idle board costs about a millisecond; a big heap (an app
 * running next to the REPL) is left to the incremental collector. */
#define MAIN_IDLE_GC_MAX (64u * 1024u)
static void idle_collect(lua_State *L) {
  if (rt_memstats(L)->used <= MAIN_IDLE_GC_MAX) lua_gc(L, LUA_GCCOLLECT);
}

/* Show the prompt once the last chunk has finished. Armed by the bytes
 * that end a line (or drop it) and by itself while a chunk runs. */
static void prompt_tick(lua_State *L, sched_timer_t *t) {
  if (repl_busy()) {
    sched_timer_start(t, sched_now() + MAIN_PROMPT_POLL_US);
    return;
  }
  idle_collect(L);
  repl_poll_prompt();
}

static void on_console_byte(lua_State *L, int c) {
  if (!M.repl) return; /* an app owns the board; the REPL starts after it */
  if (!M.repl_loaded) {
    /* The REPL's runner is compiled on first use, not at boot: it costs
     * ~70 K instructions and ~2 KB of heap that an idle board never needs.
     * The prompt already shown stays valid (repl_init clears only its
     * "prompted" mark, and the next one is printed after this line). */
    M.repl_loaded = true;
    repl_init(L, true);
    idle_collect(L); /* the compiler's leftovers */
  }
  repl_feed(L, c);
  if (c == '\r' || c == '\n' || c == 0x03 || c == 0x15) sched_timer_start(&M.prompt, sched_now());
}

/* Ctrl-C, from the UART's interrupt (a signal handler on the host does the
 * same, sim/signals.c): "interrupted" is raised in the REPL's running line,
 * or in the app while it has tasks. At an idle prompt only the byte
 * reaches the REPL, which drops the line. Typed-ahead bytes that fill the
 * console's ring hold the UART back, and a Ctrl-C behind them waits too. */
static void on_ctrl_c(void) {
  if (M.repl) {
    sched_task_t *t = repl_running_task();
    if (!t) return;
    sched_set_interrupt_target(t);
    sched_interrupt();
  } else if (sched_task_count() > 0) {
    sched_interrupt(); /* the app's first task, or whichever runs (set at spawn) */
  }
}

/* The first prompt, before the REPL is loaded: repl_prompt() is "> " for
 * a fresh line. Boot figures are taken here. */
static void first_prompt(lua_State *L) {
  M.boot_ticks = mps2_counter();
  M.boot_heap = rt_memstats(L)->used;
  M.booted = true;
  const char *p = repl_prompt();
  hal_console_write(p, strlen(p));
  idle_collect(L); /* boot's garbage (after the prompt: not part of boot time) */
}

static void start_repl(lua_State *L) {
  M.repl = true;
  M.prompt.fn = prompt_tick;
  first_prompt(L);
}

#if MAIN_NET
/* The LAN9118 as the device's interface, DHCP, hostname = the board's.
 * MAC: LUAOS_MPS2_MAC (board CMakeLists.txt) if set, else the chip's
 * (EEPROM; QEMU's -nic ...,mac=), else a stable default. A board without
 * the chip boots without networking. */
static void start_network(void) {
  uint8_t forced[6], fallback[6];
  const char *set = MAIN_MAC;
  bool have = set[0] && net_parse_mac(set, forced);
  net_default_mac(fallback, MPS2_BOARD_NAME, 0);
  char err[96];
  if (!lan9118_start(have ? forced : NULL, fallback, MPS2_BOARD_NAME, err, sizeof err)) {
    mps2_console_puts("network: ");
    mps2_console_puts(err);
    mps2_console_puts("\r\n");
  }
}
#endif

/* Uncaught task errors: report and keep the system running. */
static bool on_task_error(lua_State *L, void *ud) {
  (void)ud;
  size_t n;
  const char *msg = lua_tolstring(L, -1, &n);
  hal_console_write(msg, n);
  hal_console_write("\n", 1);
  return true;
}

/* The app has run long enough: a failure from now on is not a boot loop. */
static void healthy_tick(lua_State *L, sched_timer_t *t) {
  (void)L, (void)t;
  mps2_app_state(MPS2_APP_HEALTHY);
}

/* After MAIN_BOOT_FAILURES failed starts the app is skipped (true). */
static bool app_in_boot_loop(void) {
  const char *reason;
  uint32_t n = mps2_boot_failures(&reason);
  if (n < MAIN_BOOT_FAILURES || !bundle_find("main")) return false;
  char count[4] = {(char)('0' + (n > 9 ? 9 : n)), '\0'};
  mps2_console_puts("app failed ");
  mps2_console_puts(count);
  mps2_console_puts(" times after boot: ");
  mps2_console_puts(reason[0] ? reason : "(no reason recorded)");
  mps2_console_puts("; starting the REPL without the app\r\n");
  return true;
}

/* The app: bundled module "main", run as the first task. */
static bool spawn_app(lua_State *L) {
  const struct bundle_entry *e = bundle_find("main");
  if (!e) return false;
  if (bundle_load(L, e, "=main") != LUA_OK) {
    on_task_error(L, NULL);
    lua_pop(L, 1);
    return false;
  }
  sched_set_interrupt_target(sched_spawn(L, 0)); /* Ctrl-C: the app's task */
  lua_pop(L, 1);
  return true;
}

int main(void) {
  mps2_console_init();
  mps2_clock_init();
  mps2_gpio_init();
  mps2_watchdog_start(MAIN_WATCHDOG_MS);
  mps2_console_puts("\r\nLua OS " LUAOS_VERSION " (" LUA_RELEASE ") on " MPS2_BOARD_NAME);
  mps2_reset_cause_t cause = mps2_reset_cause();
  if (cause != MPS2_RESET_POWER) {
    mps2_console_puts(", reset by ");
    mps2_console_puts(mps2_reset_cause_name(cause));
  }
  mps2_console_puts("\r\n");

  lua_State *L = rt_open(0);
  if (!L) hal_panic("cannot create the Lua state");
  sched_init(L, false);
  sched_set_budget(MAIN_TASK_BUDGET);
  luaos_set_board(MPS2_BOARD_NAME);
  if (!modreg_open(L, &main_modcfg)) hal_panic(lua_tostring(L, -1)); /* heap too small */
  sched_set_error_handler(on_task_error, NULL);
#if MAIN_NET
  start_network();
#endif
  mps2_console_start(on_console_byte);
  mps2_console_on_ctrl_c(on_ctrl_c);
  M.feed.fn = feed_tick;
  sched_timer_start(&M.feed, sched_now() + MAIN_FEED_US);

  if (!app_in_boot_loop() && spawn_app(L)) {
    mps2_app_state(MPS2_APP_STARTING);
    M.healthy.fn = healthy_tick;
    sched_timer_start(&M.healthy, sched_now() + MAIN_HEALTHY_US);
  } else {
    mps2_app_state(MPS2_APP_NONE); /* also clears the count: the next reset tries again */
    start_repl(L);
  }
  for (;;) {
    sched_result_t r = sched_run(L, UINT64_MAX);
    if (r == SCHED_ERROR) { /* not with on_task_error installed; be safe */
      on_task_error(L, NULL);
      lua_pop(L, 1);
      continue;
    }
    /* Unreachable while the feed timer is armed; keep the REPL reachable. */
    if (!M.repl) start_repl(L);
  }
}
