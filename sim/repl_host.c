/* Host REPL: GNU readline's callback interface, driven from the event
 * loop's idle poll, so tasks and timers keep running at the prompt. When
 * stdin is not a terminal, bytes go to the shared line editor. Input is
 * read only while no entered chunk is running, so lines run one after the
 * other and typed-ahead text waits in the terminal. */
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
#include "signals.h"

static struct {
  lua_State *L;
  bool tty;
  bool eof;
  bool reading; /* stdin is being polled */
  bool installed;
  char history[1024];
} RH;

/* Stop polling stdin. The terminal stays in readline's mode, so keys
 * typed meanwhile (^D included) wait in the terminal, unchanged. */
static void pause_reading(void) {
  if (RH.reading) host_unwatch_fd(0);
  RH.reading = false;
}

static void on_line(char *line) {
  pause_reading();
  if (!line) { /* ^D */
    RH.eof = true;
    hal_console_write("\n", 1);
    return;
  }
  /* No prompt while the chunk runs; the idle hook shows it again. */
  rl_set_prompt("");
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
    rl_callback_read_char();
    return;
  }
  /* One byte at a time: stop at the end of a line that starts a chunk. */
  unsigned char c;
  ssize_t n = read(fd, &c, 1);
  if (n <= 0) {
    RH.eof = true;
    pause_reading();
    return;
  }
  repl_feed(RH.L, c);
  if (repl_busy())
    pause_reading();
  else
    repl_poll_prompt(); /* ">> " after an incomplete line */
}

/* The loop is about to wait: if the last chunk has finished, prompt and
 * read again; after end of input, stop once nothing is running. */
/* Ctrl-C at an idle prompt: drop the typed text, show a fresh prompt. */
static void clear_line_on_sigint(lua_State *L) {
  if (!signals_repl_take_idle()) return;
  repl_cancel_input(L);
  if (RH.tty && RH.installed) {
    rl_free_line_state();
    rl_replace_line("", 0);
    hal_console_write("^C\n", 3);
    rl_set_prompt(repl_prompt());
    rl_on_new_line();
    rl_redisplay();
  } else if (RH.reading) {
    hal_console_write("\n", 1);
  }
}

static void repl_idle(lua_State *L, void *ud) {
  (void)ud;
  clear_line_on_sigint(L);
  if (repl_busy() || RH.reading) return;
  if (RH.eof) {
    sched_stop();
    return;
  }
  if (RH.tty) {
    if (!RH.installed) {
      rl_callback_handler_install(repl_prompt(), on_line);
      RH.installed = true;
    } else {
      rl_set_prompt(repl_prompt());
      rl_on_new_line();
      rl_redisplay();
    }
  } else {
    repl_poll_prompt();
  }
  RH.reading = host_watch_fd(0, on_stdin, NULL);
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
  sched_set_idle_hook(repl_idle, NULL);
  rl_catch_signals = 0; /* Ctrl-C is ours (signals.c): interrupt, or clear the line */
  signals_repl_install(repl_running_task);
  for (;;) {
    sched_result_t r = sched_run(L, UINT64_MAX);
    if (r != SCHED_ERROR) break;
    /* A task (not an entered chunk: those catch their own) failed. */
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  sched_set_idle_hook(NULL, NULL);
  signals_restore();
  pause_reading();
  if (RH.installed) rl_callback_handler_remove(); /* restores the terminal */
  return 0;
}
