#include "repl.h"

#include <string.h>

#include "hal/hal_console.h"
#include "lauxlib.h"
#include "sched.h"

#define REPL_LINE_MAX 256

/* The runner calls the chunk, prints results or the traceback, then
 * clears the busy flag (through `done`). Lua's xpcall is yieldable, so the
 * chunk may sleep. */
static const char repl_runner_src[] =
    "local done = ...\n"
    "return function(f)\n"
    "  local r = table.pack(xpcall(f, debug.traceback))\n"
    "  if r[1] then\n"
    "    if r.n > 1 then\n"
    "      local out = {}\n"
    "      for i = 2, r.n do out[#out + 1] = tostring(r[i]) end\n"
    "      print(table.concat(out, '\\t'))\n"
    "    end\n"
    "  else\n"
    "    print(tostring(r[2]))\n"
    "  end\n"
    "  done()\n"
    "end\n";

static struct {
  bool busy;
  bool echo;
  bool prompted;
  bool more;
  char line[REPL_LINE_MAX];
  size_t len;
} R;

static const char runner_key = 'r';
static const char pending_key = 'p'; /* registry: incomplete chunk text */

static int repl_done(lua_State *L) {
  (void)L;
  R.busy = false;
  R.prompted = false;
  return 0;
}

void repl_init(lua_State *L, bool echo) {
  memset(&R, 0, sizeof R);
  R.echo = echo;
  if (luaL_loadbuffer(L, repl_runner_src, sizeof repl_runner_src - 1, "=repl") != LUA_OK)
    lua_error(L);
  lua_pushcfunction(L, repl_done);
  lua_call(L, 1, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &runner_key);
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
  lua_rawgetp(L, LUA_REGISTRYINDEX, &runner_key);
  lua_insert(L, -2);
  sched_spawn(L, 1);
  R.busy = true;
  lua_settop(L, top);
  return REPL_RUNNING;
}

bool repl_busy(void) { return R.busy; }
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
