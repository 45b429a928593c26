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
#include "lauxlib.h"
#include "lua_sim.h"
#include "luaos.h"
#include "lualib.h"
#include "modreg.h"
#include "repl.h"
#include "sched.h"
#include "signals.h"

#define RH_PARTIAL_MAX 4096 /* output held back while the prompt shows */
#define RH_INDEX_HOPS 8     /* __index tables followed when completing */

static struct {
  lua_State *L;
  bool tty;
  bool eof;
  bool reading; /* stdin is being polled */
  bool installed;
  char history[1024];
  /* Output that arrived at the prompt without its newline yet. */
  char partial[RH_PARTIAL_MAX];
  size_t npartial;
  /* Completion candidates for readline's generator. */
  char **cands;
  size_t ncands;
  size_t next_cand;
} RH;

static bool prompt_shown(void) { return RH.tty && RH.installed && RH.reading; }

static void flush_partial(void) {
  if (!RH.npartial) return;
  fwrite(RH.partial, 1, RH.npartial, stdout);
  fflush(stdout);
  RH.npartial = 0;
}

/* Write around readline's line: clear it, write, draw prompt and typed
 * text again below. Whole lines only; a partial one waits for its end. */
static void write_at_prompt(FILE *f, const char *buf, size_t len) {
  rl_clear_visible_line();
  flush_partial();
  fwrite(buf, 1, len, f);
  fflush(f);
  rl_on_new_line();
  rl_redisplay();
}

/* host_set_console_hook: everything the tasks print (print, log). */
static void console_out(const char *buf, size_t len) {
  if (!prompt_shown()) {
    flush_partial();
    fwrite(buf, 1, len, stdout);
    fflush(stdout);
    return;
  }
  size_t whole = len;
  while (whole > 0 && buf[whole - 1] != '\n') whole--;
  if (whole > 0) write_at_prompt(stdout, buf, whole);
  buf += whole;
  len -= whole;
  if (len > sizeof RH.partial - RH.npartial) { /* too long to hold: show it */
    write_at_prompt(stdout, buf, len);
    len = 0;
  }
  memcpy(RH.partial + RH.npartial, buf, len);
  RH.npartial += len;
}


/* ---- tab completion ---------------------------------------------------- */

static const char *const lua_keywords[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while", NULL};

/* Standard libraries a fresh state may not have opened yet. */
static const luaL_Reg std_libs[] = {
    {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
    {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_DBLIBNAME, luaopen_debug},
    {LUA_IOLIBNAME, luaopen_io},        {LUA_OSLIBNAME, luaopen_os},
    {NULL, NULL}};

static bool is_ident(const char *s, size_t n) {
  if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9')))
      return false;
  return true;
}

/* The table behind a metatable's __index, if it is one (raw; functions are
 * never called). Pushes it or nothing; returns whether it pushed. */
static bool push_index_table(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return false;
  lua_pushliteral(L, "__index");
  if (lua_rawget(L, -2) == LUA_TTABLE) {
    lua_remove(L, -2);
    return true;
  }
  lua_pop(L, 2);
  return false;
}

/* v[key] without running code: raw, then through __index tables. */
static void safe_field(lua_State *L, int v, const char *key, size_t klen) {
  lua_pushvalue(L, v);
  for (int hop = 0; hop <= RH_INDEX_HOPS; hop++) {
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_pushlstring(L, key, klen);
      if (lua_rawget(L, -2) != LUA_TNIL) {
        lua_remove(L, -2);
        return;
      }
      lua_pop(L, 1);
    }
    if (!push_index_table(L, -1)) break;
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
}

/* Add "prefix..key" to the result table `out` (at `out`, a set) for each
 * matching key of v and of its __index tables; methods: functions only. */
static void add_fields(lua_State *L, int out, int v, const char *prefix, size_t plen,
                       const char *word, size_t wlen, bool methods) {
  lua_pushvalue(L, v);
  for (int hop = 0; hop <= RH_INDEX_HOPS; hop++) {
    if (lua_type(L, -1) == LUA_TTABLE) {
      int t = lua_gettop(L);
      lua_pushnil(L);
      while (lua_next(L, t)) {
        size_t kl;
        int vt = lua_type(L, -1);
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
        if (k && kl >= wlen && memcmp(k, word, wlen) == 0 && is_ident(k, kl) &&
            (!methods || vt == LUA_TFUNCTION)) {
          luaL_Buffer b;
          luaL_buffinit(L, &b);
          luaL_addlstring(&b, prefix, plen);
          luaL_addlstring(&b, k, kl);
          if (vt == LUA_TFUNCTION) luaL_addchar(&b, '(');
          if (vt == LUA_TTABLE) luaL_addchar(&b, '.');
          luaL_pushresult(&b);
          lua_pushboolean(L, 1);
          lua_rawset(L, out);
        }
        lua_pop(L, 1);
      }
    }
    if (!push_index_table(L, -1)) break;
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
}

/* The value of a global for completion: _G raw; a library or core module
 * not opened yet (absent, or still a lazy placeholder) is opened now, from
 * C only, as using it would. */
static void global_value(lua_State *L, int G, const char *name, size_t n) {
  safe_field(L, G, name, n);
  if (!lua_isnil(L, -1) && !modreg_is_placeholder(L, -1)) return;
  char buf[32];
  if (n >= sizeof buf) return;
  memcpy(buf, name, n);
  buf[n] = '\0';
  int top = lua_gettop(L);
  if (modreg_push_module(L, buf)) lua_remove(L, top);
}

static void add_name(lua_State *L, int out, const char *name, const char *word, size_t wlen,
                     const char *suffix) {
  if (strncmp(name, word, wlen) != 0) return;
  lua_pushstring(L, name);
  lua_pushstring(L, suffix);
  lua_concat(L, 2);
  lua_pushboolean(L, 1);
  lua_rawset(L, out);
}

/* Protected: (text) -> set of completions of `text` ("a.b.c" or "a:b"). */
static int done(lua_State *L, int out) {
  lua_settop(L, out);
  return 1;
}

static int complete_p(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  lua_newtable(L);
  int out = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  int G = lua_gettop(L);
  const char *sep = NULL;
  for (const char *p = text; p < text + n; p++)
    if (*p == '.' || *p == ':') sep = p;
  if (!sep) {
    add_fields(L, out, G, "", 0, text, n, false);
    for (const luaL_Reg *l = std_libs; l->name; l++) add_name(L, out, l->name, text, n, ".");
    for (const modreg_entry_t *e = modreg_core; e->name; e++) add_name(L, out, e->name, text, n, ".");
    for (const char *const *k = lua_keywords; *k; k++) add_name(L, out, *k, text, n, " ");
    return done(L, out);
  }
  /* Walk the path before the last separator: "a.b" of "a.b.c" ("a:b"
   * only as the last step). */
  const char *seg = text;
  const char *dot = memchr(seg, '.', (size_t)(sep - seg));
  size_t len = (size_t)((dot ? dot : sep) - seg);
  if (!is_ident(seg, len)) return done(L, out);
  global_value(L, G, seg, len);
  while (dot) {
    seg = dot + 1;
    dot = memchr(seg, '.', (size_t)(sep - seg));
    len = (size_t)((dot ? dot : sep) - seg);
    if (!is_ident(seg, len) || lua_isnil(L, -1)) return done(L, out);
    int v = lua_gettop(L);
    safe_field(L, v, seg, len);
    lua_remove(L, v);
  }
  if (memchr(text, ':', (size_t)(sep - text))) return done(L, out); /* "a:b.c" */
  add_fields(L, out, lua_gettop(L), text, (size_t)(sep + 1 - text), sep + 1,
             n - (size_t)(sep + 1 - text), *sep == ':');
  return done(L, out);
}

static void free_cands(void) {
  for (size_t i = 0; i < RH.ncands; i++) free(RH.cands[i]);
  free(RH.cands);
  RH.cands = NULL;
  RH.ncands = RH.next_cand = 0;
}

static char *next_cand(const char *text, int state) {
  (void)text;
  if (state == 0) RH.next_cand = 0;
  if (RH.next_cand >= RH.ncands) return NULL;
  char *s = RH.cands[RH.next_cand];
  RH.cands[RH.next_cand++] = NULL; /* readline frees it */
  return s;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* readline's hook: candidates from the live state, built protected on the
 * main state (only raw reads, never a metamethod or function call). */
static char **complete(const char *text, int start, int end) {
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1; /* never file names */
  rl_completion_append_character = '\0';
  lua_State *L = RH.L;
  int top = lua_gettop(L);
  free_cands();
  if (!lua_checkstack(L, 24)) return NULL;
  lua_pushcfunction(L, complete_p);
  lua_pushstring(L, text);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    size_t cap = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      if (RH.ncands == cap) {
        cap = cap ? cap * 2 : 32;
        char **p = realloc(RH.cands, cap * sizeof *p);
        if (!p) break;
        RH.cands = p;
      }
      char *s = strdup(lua_tostring(L, -1));
      if (!s) break;
      RH.cands[RH.ncands++] = s;
    }
    if (RH.ncands) qsort(RH.cands, RH.ncands, sizeof *RH.cands, cmp_str);
  }
  lua_settop(L, top);
  char **m = RH.ncands ? rl_completion_matches(text, next_cand) : NULL;
  free_cands();
  return m;
}

/* Stop polling stdin. The terminal stays in readline's mode, so keys
 * typed meanwhile (^D included) wait in the terminal, unchanged. */
static void pause_reading(void) {
  if (RH.reading) host_unwatch_fd(0);
  RH.reading = false;
  flush_partial();
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
    repl_end(RH.L); /* a last line without a newline */
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
    /* "." and ":" belong to the word: gpio.wr<Tab>, ch:se<Tab>. */
    rl_completer_word_break_characters = " \t\n\"\\'`@$><=;|&{}()[],+-*/%^#~";
    rl_attempted_completion_function = complete;
    host_set_console_hook(console_out);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushliteral(L, "print");
    lua_pushcfunction(L, sim_print);
    lua_rawset(L, -3);
    lua_pop(L, 1);
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
    const char *msg = lua_tostring(L, -1);
    if (prompt_shown()) {
      fflush(stdout);
      write_at_prompt(stderr, msg ? msg : "(error)", strlen(msg ? msg : "(error)"));
      write_at_prompt(stderr, "\n", 1);
    } else {
      fprintf(stderr, "%s\n", msg ? msg : "(error)");
    }
    lua_pop(L, 1);
  }
  sched_set_idle_hook(NULL, NULL);
  signals_restore();
  pause_reading();
  host_set_console_hook(NULL);
  if (RH.installed) rl_callback_handler_remove(); /* restores the terminal */
  return 0;
}
