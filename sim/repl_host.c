/* Host REPL: GNU readline's callback interface, driven from the event
 * loop's idle poll, so tasks and timers keep running at the prompt. When
 * stdin is not a terminal, bytes go straight to the shared line editor. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli.h"
#include "hal/hal_console.h"
#include "host.h"
#include "luaos.h"
#include "repl.h"
#include "sched.h"

static struct {
  lua_State *L;
  bool tty;
  bool eof;
  bool installed;
  char history[1024];
} RH;

static void on_line(char *line) {
  rl_callback_handler_remove();
  RH.installed = false;
  if (!line) { /* ^D */
    RH.eof = true;
    hal_console_write("\n", 1);
    sched_stop();
    return;
  }
  if (*line) {
    add_history(line);
    if (RH.history[0]) append_history(1, RH.history);
  }
  repl_line(RH.L, line, strlen(line));
  free(line);
}

static void on_stdin(int fd, void *ud) {
  (void)ud;
  if (RH.tty) {
    if (RH.installed) rl_callback_read_char();
    return;
  }
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n <= 0) {
    RH.eof = true;
    host_unwatch_fd(fd);
    return;
  }
  for (ssize_t i = 0; i < n; i++) repl_feed(RH.L, (unsigned char)buf[i]);
}

/* Between loop turns: show the prompt when the last chunk has finished. */
static void prompt_check(lua_State *L, sched_timer_t *t) {
  (void)L;
  if (!repl_busy()) {
    if (RH.tty) {
      if (!RH.installed && !RH.eof) {
        rl_callback_handler_install(repl_prompt(), on_line);
        RH.installed = true;
      }
    } else {
      repl_poll_prompt();
    }
  }
  if (RH.eof && !repl_busy()) {
    sched_stop();
    return;
  }
  sched_timer_start(t, sched_now() + 10000);
}

int repl_host_run(lua_State *L) {
  memset(&RH, 0, sizeof RH);
  RH.L = L;
  RH.tty = isatty(0);
  repl_init(L, false);
  if (RH.tty) {
    const char *home = getenv("HOME");
    if (home) {
      snprintf(RH.history, sizeof RH.history, "%s/.luaos_history", home);
      read_history(RH.history);
      FILE *f = fopen(RH.history, "a");
      if (f) fclose(f);
    }
    printf("Lua OS %s on board '%s' (^D to quit)\n", LUAOS_VERSION, luaos_board());
  }
  host_watch_fd(0, on_stdin, NULL);
  static sched_timer_t pt;
  pt.fn = prompt_check;
  sched_timer_start(&pt, sched_now());
  int rc = 0;
  for (;;) {
    sched_result_t r = sched_run(L, UINT64_MAX);
    if (r == SCHED_STOPPED || r == SCHED_IDLE) break;
    if (r == SCHED_ERROR) { /* REPL chunks catch their own; this is a task */
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      lua_pop(L, 1);
      continue;
    }
    if (r == SCHED_DEADLOCK) break;
  }
  sched_timer_stop(&pt);
  if (RH.installed) rl_callback_handler_remove();
  return rc;
}
