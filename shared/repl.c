#include "repl.h"

#include <string.h>

#include "hal/hal_console.h"
#include "lauxlib.h"
#include "rt.h"
#include "sched.h"

#define REPL_LINE_MAX 256

static struct {
  bool busy;
  sched_task_t *task; /* the entered chunk's task while busy (Ctrl-C target) */
  bool echo;
  bool prompted;
  bool more;
  char line[REPL_LINE_MAX];
  size_t len;
} R;

static const char pending_key = 'p'; /* registry: incomplete chunk text */

/* Print values from index `first` to the top, tab-separated. */
static void print_values(lua_State *L, int first) {
  int top = lua_gettop(L);
  for (int i = first; i <= top; i++) {
    size_t n;
    const char *s = luaL_tolstring(L, i, &n);
    if (i > first) hal_console_write("\t", 1);
    hal_console_write(s, n);
    lua_pop(L, 1);
  }
  if (top >= first) hal_console_write("\n", 1);
}

/* After the chunk: its results or its error with traceback. Runs as the
 * continuation too, when the chunk slept or waited on the way. */
static int repl_run_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  if (status == LUA_OK || status == LUA_YIELD) {
    print_values(L, 2);
  } else {
    size_t n;
    const char *msg = luaL_tolstring(L, -1, &n);
    hal_console_write(msg, n);
    hal_console_write("\n", 1);
  }
  R.busy = false;
  R.prompted = false;
  return 0;
}

/* The task body for an entered chunk: a yieldable pcall in C, so the REPL
 * needs neither the table nor the debug library (boards load those lazily). */
static int repl_run(lua_State *L) {
  lua_pushcfunction(L, rt_traceback);
  lua_insert(L, 1); /* handler below the chunk */
  return repl_run_k(L, lua_pcallk(L, 0, LUA_MULTRET, 1, 0, repl_run_k), 0);
}

void repl_init(lua_State *L, bool echo) {
  (void)L;
  memset(&R, 0, sizeof R);
  R.echo = echo;
  sched_ref(1); /* input may arrive at any time */
}

static bool incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return false;
  size_t lmsg;
  const char *msg = lua_tolstring(L, -1, &lmsg);
  static const char eof[] = "<eof>";
  return lmsg >= sizeof eof - 1 && strcmp(msg + lmsg - (sizeof eof - 1), eof) == 0;
}

repl_state_t repl_line(lua_State *L, const char *line, size_t len) {
  int top = lua_gettop(L);
  /* Join with an incomplete chunk from earlier lines. */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_key);
  if (lua_isstring(L, -1)) {
    lua_pushliteral(L, "\n");
    lua_pushlstring(L, line, len);
    lua_concat(L, 3);
  } else {
    lua_pop(L, 1);
    lua_pushlstring(L, line, len);
  }
  size_t n;
  const char *src = lua_tolstring(L, -1, &n);
  const char *code = src;
  size_t clen = n;
  if (n > 0 && src[0] == '=') { /* Lua 5.1 habit: "=expr" */
    code++;
    clen--;
  }
  /* Expression first, so "1+1" prints 2. */
  lua_pushliteral(L, "return ");
  lua_pushlstring(L, code, clen);
  lua_concat(L, 2);
  size_t rl;
  const char *ret = lua_tolstring(L, -1, &rl);
  int st = luaL_loadbuffer(L, ret, rl, "=stdin");
  if (st != LUA_OK) {
    lua_pop(L, 2);
    st = luaL_loadbuffer(L, code, clen, "=stdin");
  } else {
    lua_remove(L, -2);
  }
  if (incomplete(L, st)) {
    lua_pop(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key); /* keep the text */
    lua_settop(L, top);
    R.more = true;
    return REPL_MORE;
  }
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key);
  R.more = false;
  if (st != LUA_OK) {
    size_t ml;
    const char *msg = lua_tolstring(L, -1, &ml);
    hal_console_write(msg, ml);
    hal_console_write("\n", 1);
    lua_settop(L, top);
    R.prompted = false;
    return REPL_READY;
  }
  lua_pushcfunction(L, repl_run);
  lua_insert(L, -2);
  R.task = sched_spawn(L, 1);
  R.busy = true;
  lua_settop(L, top);
  return REPL_RUNNING;
}

bool repl_busy(void) { return R.busy; }
sched_task_t *repl_running_task(void) { return R.busy ? R.task : NULL; }

void repl_cancel_input(lua_State *L) {
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key);
  R.more = false;
  R.len = 0;
  R.prompted = false;
}
const char *repl_prompt(void) { return R.more ? ">> " : "> "; }

void repl_poll_prompt(void) {
  if (R.busy || R.prompted) return;
  const char *p = repl_prompt();
  hal_console_write(p, strlen(p));
  R.prompted = true;
}

void repl_feed(lua_State *L, int c) {
  if (c == '\r' || c == '\n') {
    if (R.echo) hal_console_write("\r\n", 2);
    R.line[R.len] = '\0';
    size_t len = R.len;
    R.len = 0;
    R.prompted = false;
    if (len == 0 && !R.more) return;
    repl_line(L, R.line, len);
    return;
  }
  if (c == 0x03 || c == 0x15) { /* ^C, ^U: drop the line */
    R.len = 0;
    R.more = false;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key);
    if (R.echo) hal_console_write("^C\r\n", 4);
    R.prompted = false;
    return;
  }
  if (c == 0x08 || c == 0x7f) {
    if (R.len > 0) {
      R.len--;
      if (R.echo) hal_console_write("\b \b", 3);
    }
    return;
  }
  if (c < 0x20 && c != '\t') return;
  if (R.len < REPL_LINE_MAX - 1) {
    R.line[R.len++] = (char)c;
    if (R.echo) {
      char ch = (char)c;
      hal_console_write(&ch, 1);
    }
  }
}
