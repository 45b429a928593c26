/* The simulator's commands: boot a Lua OS instance on a virtual board and
 * run an app, a REPL or Busted specs in it. */
#ifndef SIM_CLI_H
#define SIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lua.h"
#include "net_host.h"

#define CLI_MAX_SPECS 256
/* Default --task-budget: stops `while true do end` in a task after about a
 * second, far above what a well-behaved task runs between two yields. */
#define CLI_DEFAULT_TASK_BUDGET 100000000u

typedef struct {
  const char *exe;
  const char *board;
  bool virtual_time;
  bool virtual_time_set; /* given on the command line (--virtual-time) */
  net_host_opts_t net;   /* --net, --ip, ... (sim/net_host.h) */
  bool no_devpath;
  size_t mem_limit;
  uint32_t task_budget; /* instructions per resume, 0: off (--task-budget) */
  /* run */
  const char *app;
  char **app_args;
  int n_app_args;
  bool has_for;
  uint64_t run_for;
  bool watch;
  /* run, repl: the window (sim/window.h) */
  bool headless;
  const char *screenshot;
  const char *layout_json;
  /* test */
  const char *specs[CLI_MAX_SPECS];
  int n_specs;
  const char *output;
  int jobs;
  bool verbose; /* test: show all log output, Busted --verbose */
} cli_opts_t;

void cli_defaults(cli_opts_t *o, const char *exe);
int cli_run(const cli_opts_t *o);
int cli_repl(const cli_opts_t *o);
int cli_test(const cli_opts_t *o);
int cli_list_boards(const cli_opts_t *o);
/* luaos hil list | check BOARD (sim/ftdi_cli.c). */
int cli_hil(cli_opts_t *o, int argc, char **argv);
/* After boot: 1 (and why, in msg) when an adapter of the board is not
 * attached; `luaos test` then skips the spec file. */
int cli_hil_absent(char *msg, size_t msglen);
/* 1 when the board has a real adapter (ftdi://): specs then run in real
 * time unless --virtual-time was given. */
int cli_hil_real(void);
#define CLI_EXIT_SKIPPED 77

/* Boot: state, scheduler, modules, board. NULL (message printed) on error. */
lua_State *cli_boot(const cli_opts_t *o, const char *app_dir);
void cli_shutdown(lua_State *L);

/* host REPL (repl_host.c) and module watcher (watch.c) */
int repl_host_run(lua_State *L);
void watch_start(lua_State *L, const char *app);

#endif
