#define _GNU_SOURCE
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "board.h"
#include "hal/hal_clock.h"
#include "drivers.h"
#include "lauxlib.h"
#include "lua_sim.h"
#include "luaos.h"
#include "modreg.h"
#include "net_host.h"
#include "net_modules.h"
#include "rt.h"
#include "sched.h"
#include "signals.h"
#include "window.h"

#ifndef LUAOS_SOURCE_DIR
#error "LUAOS_SOURCE_DIR must be defined by the build"
#endif
#ifndef LUAOS_MULTIARCH
#define LUAOS_MULTIARCH "x86_64-linux-gnu"
#endif

static const modreg_entry_t sim_modules[] = {
    {"sim", luaopen_sim}, {"bench", luaopen_bench}, {"hil", luaopen_hil}, {NULL, NULL}};

/* Paths must outlive the state: modreg keeps the config pointer. */
static struct {
  modreg_config_t mcfg;
  char devpath[PATH_MAX * 3];
} C;

void cli_defaults(cli_opts_t *o, const char *exe) {
  memset(o, 0, sizeof *o);
  o->exe = exe;
  o->jobs = 1;
  o->task_budget = CLI_DEFAULT_TASK_BUDGET;
}

/* Board files are small: a bigger one is a mistake (or /dev/zero). */
#define CLI_MAX_BOARD_FILE (1u << 20)

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (n < cap) break;
    if (cap >= CLI_MAX_BOARD_FILE) {
      free(buf);
      buf = NULL;
      errno = EFBIG;
      break;
    }
    char *nb = realloc(buf, cap *= 2);
    if (!nb) {
      free(buf);
      buf = NULL;
    }
    buf = nb;
  }
  fclose(f);
  if (buf) *len = n;
  return buf;
}

/* A board argument is a file, or the name of one in virtual-hw/boards. */
static bool resolve_board(const char *arg, char *out, size_t outlen) {
  struct stat st;
  if (strchr(arg, '/') || strstr(arg, ".lua")) {
    snprintf(out, outlen, "%s", arg);
    /* "hil.lua" that is not here: the one in the boards folder */
    const char *dir = getenv("LUAOS_BOARDS");
    if (!strchr(arg, '/') && stat(out, &st) != 0)
      snprintf(out, outlen, "%s/%s", dir ? dir : LUAOS_SOURCE_DIR "/virtual-hw/boards", arg);
  } else {
    const char *dir = getenv("LUAOS_BOARDS");
    snprintf(out, outlen, "%s/%s.lua", dir ? dir : LUAOS_SOURCE_DIR "/virtual-hw/boards", arg);
  }
  return stat(out, &st) == 0 && S_ISREG(st.st_mode); /* not a folder, FIFO or device */
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_list_boards(const cli_opts_t *o) {
  (void)o;
  const char *dir = getenv("LUAOS_BOARDS");
  if (!dir) dir = LUAOS_SOURCE_DIR "/virtual-hw/boards";
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "luaos boards: cannot open %s: %s\n", dir, strerror(errno));
    return 1;
  }
  struct dirent *e;
  char *names[256];
  size_t count = 0;
  while ((e = readdir(d)) != NULL && count < 256) {
    size_t n = strlen(e->d_name);
    if (n > 4 && strcmp(e->d_name + n - 4, ".lua") == 0 && (names[count] = strdup(e->d_name)))
      count++;
  }
  closedir(d);
  qsort(names, count, sizeof names[0], cmp_str);
  for (size_t i = 0; i < count; i++) {
    printf("%.*s\t%s/%s\n", (int)(strlen(names[i]) - 4), names[i], dir, names[i]);
    free(names[i]);
  }
  return 0;
}

static bool on_task_error(lua_State *L, void *ud) {
  (void)ud;
  (void)L;
  return false; /* an app's uncaught error ends the run */
}

static int boot_protected(lua_State *L) {
  const cli_opts_t *o = lua_touserdata(L, 1);
  lua_settop(L, 0);
  sched_init(L, o->virtual_time);
  sched_set_budget(o->task_budget);
  signals_start_ticks();
  if (!modreg_open(L, &C.mcfg)) return lua_error(L); /* heap too small to boot */
  /* print as one console write (it flushes, as the stock one does): the
   * console's tail then holds it for a picture made later, with or
   * without a window (sim.screenshot). */
  lua_pushcfunction(L, sim_print);
  lua_setglobal(L, "print");
  return 0;
}

lua_State *cli_boot(const cli_opts_t *o, const char *app_dir) {
  char board_path[PATH_MAX];
  const char *barg = o->board ? o->board : "devkit";
  struct stat st;
  if (!resolve_board(barg, board_path, sizeof board_path)) {
    if (stat(board_path, &st) == 0)
      fprintf(stderr, "luaos: board file %s is not a regular file\n", board_path);
    else
      fprintf(stderr, "luaos: board '%s' not found (a file, or a name from 'luaos boards')\n",
              barg);
    return NULL;
  }
  size_t blen;
  char *btext = read_file(board_path, &blen);
  if (!btext) {
    fprintf(stderr, "luaos: cannot read board file %s: %s\n", board_path, strerror(errno));
    return NULL;
  }
  lua_State *L = rt_open(o->mem_limit);
  if (!L) {
    free(btext);
    fprintf(stderr, "luaos: cannot create the Lua state%s\n",
            o->mem_limit ? " (--mem-limit too small?)" : "");
    return NULL;
  }

  /* Development path: the app's folder, then lua/ in the source tree, so
   * edit-and-rerun needs no rebuild; the bundle comes after. */
  const char *extra = getenv("LUAOS_PATH");
  snprintf(C.devpath, sizeof C.devpath, "%s%s%s/?.lua;%s/?/init.lua;" LUAOS_SOURCE_DIR
           "/lua/?.lua;" LUAOS_SOURCE_DIR "/lua/?/init.lua",
           extra ? extra : "", extra ? ";" : "", app_dir ? app_dir : ".",
           app_dir ? app_dir : ".");
  memset(&C.mcfg, 0, sizeof C.mcfg);
  C.mcfg.extra[0] = drivers_modules;
  C.mcfg.extra[1] = sim_modules;
  C.mcfg.extra[2] = net_modules;
  C.mcfg.devpath = o->no_devpath ? NULL : C.devpath;
  /* Debian's Lua libraries (Busted and its helpers) for specs on the host. */
  C.mcfg.syspath = "/usr/local/share/lua/5.4/?.lua;/usr/local/share/lua/5.4/?/init.lua;"
                   "/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua";
  C.mcfg.cpath = "/usr/local/lib/lua/5.4/?.so;/usr/lib/" LUAOS_MULTIARCH
                 "/lua/5.4/?.so;/usr/lib/lua/5.4/?.so";
  /* Protected: with a small --mem-limit booting fails with a message,
   * not a PANIC. */
  lua_pushcfunction(L, boot_protected);
  lua_pushlightuserdata(L, (void *)o);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "luaos: cannot boot: %s%s\n",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error",
            o->mem_limit ? " (--mem-limit too small?)" : "");
    free(btext);
    rt_close(L);
    return NULL;
  }
  sched_set_error_handler(on_task_error, NULL);
  char err[512];
  bool ok = board_load(L, btext, blen, board_path, err, sizeof err);
  free(btext);
  if (!ok) {
    fprintf(stderr, "luaos: %s\n", err);
    rt_close(L);
    return NULL;
  }
  luaos_set_board(board_name());
  /* The network after the board: the default MAC is derived from its name. */
  if (!net_host_start(&o->net, board_name(), err, sizeof err)) {
    fprintf(stderr, "luaos: %s\n", err);
    cli_shutdown(L);
    return NULL;
  }
  return L;
}

void cli_shutdown(lua_State *L) {
  /* The network first: sockets closed while the state closes then send
   * nothing to a backend that is going away. */
  net_host_stop();
  rt_close(L);
  board_unload();
}

static int report(lua_State *L, sched_result_t r) {
  switch (r) {
    case SCHED_ERROR:
      fprintf(stderr, "luaos: %s\n",
              lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "uncaught error");
      return 1;
    case SCHED_DEADLOCK:
      fprintf(stderr,
              "luaos: %u task(s) wait for events that nothing can deliver (no timers, no "
              "interrupt handlers)\n",
              (unsigned)sched_task_count());
      return 1;
    default: return 0;
  }
}

static void set_arg(lua_State *L, const char *script, char **args, int n) {
  lua_createtable(L, n, 1);
  lua_pushstring(L, script);
  lua_rawseti(L, -2, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, args[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setglobal(L, "arg");
}

static int push_app(lua_State *L) {
  const cli_opts_t *o = lua_touserdata(L, 1);
  lua_settop(L, 0);
  set_arg(L, o->app, o->app_args, o->n_app_args);
  /* Text only: a binary chunk is not verified by Lua and a patched one
   * corrupts memory. */
  if (luaL_loadfilex(L, o->app, "t") != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg && !strstr(msg, o->app)) lua_pushfstring(L, "%s: %s", o->app, msg);
    return lua_error(L);
  }
  luaL_checkstack(L, o->n_app_args, "too many arguments for the app");
  for (int i = 0; i < o->n_app_args; i++) lua_pushstring(L, o->app_args[i]);
  sched_set_interrupt_target(sched_spawn(L, o->n_app_args)); /* Ctrl-C: the app's task */
  return 0;
}

/* The window, or headless (sim/window.c). */
static bool start_window(lua_State *L, const cli_opts_t *o, bool repl) {
  window_opts_t w = {.headless = o->headless, .screenshot = o->screenshot,
                     .layout_json = o->layout_json, .repl = repl};
  char err[400];
  if (window_start(L, &w, err, sizeof err)) return true;
  fprintf(stderr, "luaos: %s\n", err);
  return false;
}

int cli_run(const cli_opts_t *o) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", o->app);
  lua_State *L = cli_boot(o, dirname(tmp));
  if (!L) return 1;
  /* Protected: a small --mem-limit must give a message, not a panic. */
  lua_pushcfunction(L, push_app);
  lua_pushlightuserdata(L, (void *)o);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "luaos: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot start");
    cli_shutdown(L);
    return 1;
  }
  if (o->watch) watch_start(L, o->app);
  if (!start_window(L, o, false)) {
    cli_shutdown(L);
    return 1;
  }
  signals_run_install();
  /* --for counts from now, not from boot (slow under ASan or load). */
  uint64_t start = sched_virtual() ? sched_now() : hal_clock_us();
  uint64_t until = o->has_for ? start + o->run_for : UINT64_MAX;
  int rc = report(L, sched_run(L, until));
  if (!window_finish() && rc == 0) rc = 1;
  cli_shutdown(L);
  return signals_run_status(rc);
}

static int push_repl_arg(lua_State *L) {
  set_arg(L, "repl", NULL, 0);
  return 0;
}

int cli_repl(const cli_opts_t *o) {
  lua_State *L = cli_boot(o, ".");
  if (!L) return 1;
  lua_pushcfunction(L, push_repl_arg);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "luaos: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot start");
    cli_shutdown(L);
    return 1;
  }
  if (!start_window(L, o, true)) {
    cli_shutdown(L);
    return 1;
  }
  int rc = repl_host_run(L);
  if (!window_finish() && rc == 0) rc = 1;
  cli_shutdown(L);
  return rc;
}

/* luaos test (cli_test) is in test_cmd.c. */
