#include "repl.h"

#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "hal/hal_console.h"
#include "lauxlib.h"
#include "luaos.h"
#include "modreg.h"
#include "rt.h"
#include "sched.h"

/* Lines up to this size live in a static buffer (no heap on an idle
 * board); longer ones grow on the Lua heap up to REPL_INPUT_MAX. */
#define REPL_LINE_INLINE 256

/* Result printing limits: tables nested deeper than this show as {...},
 * more entries than REPL_SHOW_ITEMS per table (REPL_SHOW_TOTAL per value)
 * as "...", strings inside tables longer than REPL_SHOW_STR are cut, and
 * tables with at most REPL_SORT_MAX non-array keys print sorted. */
#define REPL_SHOW_DEPTH 3
#define REPL_SHOW_ITEMS 40
#define REPL_SHOW_TOTAL 200
#define REPL_SHOW_STR 80
#define REPL_SORT_MAX 64

static struct {
  bool busy;
  bool echo;
  bool prompted;
  bool more;
  bool overflow;  /* the current line passed REPL_INPUT_MAX: dropped at its end */
  bool nomem;     /* ... or the heap could not hold it */
  bool after_cr;  /* an LF right after a CR ends nothing */
  bool at_eof;    /* repl_end: an incomplete chunk is an error, not ">> " */
  char *line;     /* inline_buf or a heap block of `cap` bytes */
  size_t len;
  size_t cap;
  /* Lines ended while a chunk runs (boards feed bytes at any time) wait
   * in a registry table, run in order: queue[qhead..qtail-1]. */
  lua_Integer qhead, qtail;
  size_t qbytes;
  lua_State *L;        /* the main state (repl_busy has none) */
  sched_task_t *task;  /* the running chunk, kept valid by task_key */
  char inline_buf[REPL_LINE_INLINE];
} R;

static const char pending_key = 'p'; /* registry: incomplete chunk text */
static const char queue_key = 'q';   /* registry: lines typed while a chunk ran */
static const char task_key = 't';    /* registry: the last chunk's task object */

static void run_queued(lua_State *L);

/* The chunk is over: drop its task (and its stack) and go on. */
static void chunk_ended(lua_State *L) {
  R.busy = false;
  R.task = NULL;
  R.prompted = false;
  lua_pushnil(L); /* replacing a value by nil never allocates */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &task_key);
  run_queued(L);
}

static void write_str(const char *s) { hal_console_write(s, strlen(s)); }

/* ---- results, printed readably ------------------------------------------ */

/* Output through a small buffer: one console write per chunk of text. */
typedef struct {
  char buf[128];
  size_t n;
  int budget; /* table entries left for this value */
} out_t;

static void out_flush(out_t *o) {
  if (o->n) hal_console_write(o->buf, o->n);
  o->n = 0;
}

static void out_put(out_t *o, const char *s, size_t n) {
  while (n > 0) {
    if (o->n == sizeof o->buf) out_flush(o);
    size_t k = sizeof o->buf - o->n;
    if (k > n) k = n;
    memcpy(o->buf + o->n, s, k);
    o->n += k;
    s += k;
    n -= k;
  }
}

static void out_str(out_t *o, const char *s) { out_put(o, s, strlen(s)); }

/* "type: 0x...", with the metatable's __name if it is a string (raw). */
static void put_address(lua_State *L, out_t *o, int idx) {
  char b[48];
  const char *kind = luaL_typename(L, idx);
  if (luaL_getmetafield(L, idx, "__name") != LUA_TNIL) {
    if (lua_type(L, -1) == LUA_TSTRING) kind = lua_tostring(L, -1);
    out_str(o, kind);
    lua_pop(L, 1);
  } else {
    out_str(o, kind);
  }
  snprintf(b, sizeof b, ": %p", lua_topointer(L, idx));
  out_str(o, b);
}

static void put_quoted(out_t *o, const char *s, size_t n) {
  size_t shown = n > REPL_SHOW_STR ? REPL_SHOW_STR - 10 : n;
  out_put(o, "\"", 1);
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)s[i];
    char e[8];
    if (c == '"' || c == '\\') {
      e[0] = '\\';
      e[1] = (char)c;
      out_put(o, e, 2);
    } else if (c == '\n') {
      out_put(o, "\\n", 2);
    } else if (c == '\r') {
      out_put(o, "\\r", 2);
    } else if (c == '\t') {
      out_put(o, "\\t", 2);
    } else if (c < 0x20 || c == 0x7f) {
      snprintf(e, sizeof e, "\\%03u", c); /* 3 digits: a digit may follow */
      out_str(o, e);
    } else {
      out_put(o, (const char *)&c, 1);
    }
  }
  out_put(o, "\"", 1);
  if (shown < n) {
    char b[40];
    snprintf(b, sizeof b, "...(%lu bytes)", (unsigned long)n); /* small libcs lack %zu */
    out_str(o, b);
  }
}

/* __tostring, called protected: its errors and wrong results are shown,
 * never raised. Returns false when there is none. */
static bool put_tostring(lua_State *L, out_t *o, int idx) {
  if (luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL) return false;
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    out_str(o, "<__tostring error: ");
    const char *m = lua_tostring(L, -1);
    out_str(o, m ? m : luaL_typename(L, -1));
    out_str(o, ">");
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    out_put(o, s, n);
  } else {
    out_str(o, "<__tostring returned a ");
    out_str(o, luaL_typename(L, -1));
    out_str(o, ">");
  }
  lua_pop(L, 1);
  return true;
}

static bool is_name(const char *s, size_t n) {
  static const char *const reserved[] = {
      "and",   "break", "do",  "else", "elseif", "end",    "false",  "for",
      "function", "goto", "if", "in", "local", "nil",    "not",    "or",
      "repeat", "return", "then", "true", "until", "while"};
  if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strlen(reserved[i]) == n && memcmp(reserved[i], s, n) == 0) return false;
  return true;
}

static void show(lua_State *L, out_t *o, int idx, int depth, int vis);

/* A key: `name = ` or `[key] = `; table and other keys by address only. */
static void show_key(lua_State *L, out_t *o, int idx, int vis) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (is_name(s, n)) {
      out_put(o, s, n);
      out_str(o, " = ");
      return;
    }
  }
  out_str(o, "[");
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN)
    show(L, o, idx, 1, vis);
  else
    put_address(L, o, idx);
  out_str(o, "] = ");
}

static int key_rank(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER: return 0;
    case LUA_TSTRING: return 1;
    case LUA_TBOOLEAN: return 2;
    default: return 3;
  }
}

/* Raw order only: numbers and strings compare without metamethods. */
static bool key_less(lua_State *L, int a, int b) {
  int ra = key_rank(L, a), rb = key_rank(L, b);
  if (ra != rb) return ra < rb;
  if (ra <= 1) return lua_compare(L, a, b, LUA_OPLT);
  if (ra == 2) return !lua_toboolean(L, a) && lua_toboolean(L, b);
  return false; /* others keep their traversal order (stable sort) */
}

/* One entry "key = value", counting against the budget; false when the
 * table must stop here with "...". */
static bool show_entry(lua_State *L, out_t *o, int key, int val, int depth, int vis, int *shown) {
  if (*shown > 0) out_str(o, ", ");
  if (*shown >= REPL_SHOW_ITEMS || o->budget <= 0) {
    out_str(o, "...");
    return false;
  }
  (*shown)++;
  o->budget--;
  if (key) show_key(L, o, key, vis);
  show(L, o, val, depth + 1, vis);
  return true;
}

static void show_table(lua_State *L, out_t *o, int idx, int depth, int vis) {
  if (depth >= REPL_SHOW_DEPTH) {
    out_str(o, "{...}");
    return;
  }
  luaL_checkstack(L, 8, "printing a result");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, vis) != LUA_TNIL) { /* an ancestor: a cycle */
    lua_pop(L, 1);
    out_str(o, "<cycle>");
    return;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, vis);
  out_str(o, "{");
  int shown = 0;
  bool go = true;
  /* The array part 1..n, without keys. */
  lua_Integer n = 0;
  while (go) {
    if (lua_rawgeti(L, idx, n + 1) == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    n++;
    go = show_entry(L, o, 0, lua_gettop(L), depth, vis, &shown);
    lua_pop(L, 1);
  }
  /* The other keys: sorted when few, else in traversal order. */
  int count = 0;
  if (go) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n) continue;
      count++;
    }
  }
  if (go && count > 0 && count <= REPL_SORT_MAX) {
    lua_createtable(L, count, 0);
    int keys = lua_gettop(L);
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n) continue;
      /* Insertion sort: move bigger keys up one slot. */
      int j = k;
      while (j > 0) {
        lua_rawgeti(L, keys, j);
        bool less = key_less(L, -2, -1);
        if (!less) {
          lua_pop(L, 1);
          break;
        }
        lua_rawseti(L, keys, j + 1);
        j--;
      }
      lua_pushvalue(L, -1);
      lua_rawseti(L, keys, j + 1);
      k++;
    }
    for (int i = 1; i <= k && go; i++) {
      lua_rawgeti(L, keys, i);
      lua_pushvalue(L, -1);
      lua_rawget(L, idx);
      go = show_entry(L, o, lua_gettop(L) - 1, lua_gettop(L), depth, vis, &shown);
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
  } else if (go && count > 0) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && lua_tointeger(L, -2) <= n) {
        lua_pop(L, 1);
        continue;
      }
      go = show_entry(L, o, lua_gettop(L) - 1, lua_gettop(L), depth, vis, &shown);
      lua_pop(L, 1);
      if (!go) {
        lua_pop(L, 1);
        break;
      }
    }
  }
  out_str(o, "}");
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, vis);
}

/* One value. Top level (depth 0) strings print as they are, nested ones
 * quoted. Nothing here calls a metamethod other than __tostring. */
static void show(lua_State *L, out_t *o, int idx, int depth, int vis) {
  luaL_checkstack(L, 4, "printing a result");
  switch (lua_type(L, idx)) {
    case LUA_TNIL: out_str(o, "nil"); return;
    case LUA_TBOOLEAN: out_str(o, lua_toboolean(L, idx) ? "true" : "false"); return;
    case LUA_TNUMBER: {
      size_t n;
      lua_pushvalue(L, idx); /* lua_tolstring converts in place: a copy */
      const char *s = lua_tolstring(L, -1, &n);
      out_put(o, s, n);
      lua_pop(L, 1);
      return;
    }
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      if (depth == 0)
        out_put(o, s, n);
      else
        put_quoted(o, s, n);
      return;
    }
    case LUA_TTABLE:
      if (put_tostring(L, o, idx)) return;
      if (luaL_getmetafield(L, idx, "__name") != LUA_TNIL) {
        lua_pop(L, 1);
        put_address(L, o, idx);
        return;
      }
      show_table(L, o, idx, depth, vis);
      return;
    default:
      if (!put_tostring(L, o, idx)) put_address(L, o, idx);
      return;
  }
}

/* Protected: (out, values...) -> prints the values tab-separated. */
static int print_values_p(lua_State *L) {
  out_t *o = lua_touserdata(L, 1);
  int top = lua_gettop(L);
  lua_newtable(L); /* tables on the current path, for cycles */
  int vis = lua_gettop(L);
  for (int i = 2; i <= top; i++) {
    if (i > 2) out_put(o, "\t", 1);
    o->budget = REPL_SHOW_TOTAL;
    show(L, o, i, 0, vis);
  }
  if (top >= 2) out_put(o, "\n", 1);
  return 0;
}

/* Print the values from index `first` to the top and remove them. Never
 * raises: a failure (out of memory) ends the output with a note. */
static void print_values(lua_State *L, int first) {
  int top = lua_gettop(L);
  if (top < first) return;
  out_t o;
  o.n = 0;
  o.budget = REPL_SHOW_TOTAL;
  if (!lua_checkstack(L, 4)) {
    write_str("(too many results to print)\n");
    lua_settop(L, first - 1);
    return;
  }
  lua_pushcfunction(L, print_values_p);
  lua_pushlightuserdata(L, &o);
  lua_rotate(L, first, 2);
  if (lua_pcall(L, top - first + 2, 0, 0) != LUA_OK) {
    out_flush(&o);
    const char *m = lua_tostring(L, -1);
    write_str("\n(cannot print the result: ");
    write_str(m ? m : "error");
    write_str(")\n");
    lua_pop(L, 1);
  }
  out_flush(&o);
}

/* After the chunk: its results or its error with traceback. Runs as the
 * continuation too, when the chunk slept or waited on the way. */
static int repl_run_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  if (status == LUA_OK || status == LUA_YIELD) {
    print_values(L, 2);
  } else {
    print_values(L, lua_gettop(L));
  }
  chunk_ended(L);
  return 0;
}

/* The task body for an entered chunk: a yieldable pcall in C, so the REPL
 * needs neither the table nor the debug library (boards load those lazily). */
static int repl_run(lua_State *L) {
  lua_pushcfunction(L, rt_traceback);
  lua_insert(L, 1); /* handler below the chunk */
  return repl_run_k(L, lua_pcallk(L, 0, LUA_MULTRET, 1, 0, repl_run_k), 0);
}

/* ---- help() ------------------------------------------------------------- */

static int help_native(lua_State *L) {
  lua_pushboolean(L, modreg_is_native(L, luaL_checkstring(L, 1)));
  return 1;
}

/* nearest(word, {names}) -> the likely intended name or nil. */
static int help_nearest(lua_State *L) {
  const char *word = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  const char *cands[65];
  int n = 0;
  while (n < 64 && lua_rawgeti(L, 2, n + 1) == LUA_TSTRING) {
    cands[n++] = lua_tostring(L, -1); /* stays valid: the table holds it */
    lua_pop(L, 1);
  }
  cands[n] = NULL;
  const char *r = luaos_nearest(word, cands);
  if (r)
    lua_pushstring(L, r);
  else
    lua_pushnil(L);
  return 1;
}

/* help([module]): the text lives in the bundled module "help", loaded only
 * when asked; here only what Lua cannot see: the native and bundled lists. */
static int repl_help(lua_State *L) {
  lua_settop(L, 1);
  if (lua_getglobal(L, "require") != LUA_TFUNCTION)
    return luaL_error(L, "help: 'require' is not a function");
  lua_pushliteral(L, "help");
  lua_call(L, 1, 1);
  if (lua_getfield(L, -1, "show") != LUA_TFUNCTION)
    return luaL_error(L, "help: module 'help' has no 'show'");
  lua_pushvalue(L, 1);
  lua_createtable(L, 8, 0);
  int i = 1;
  for (const modreg_entry_t *e = modreg_core; e->name; e++) {
    lua_pushstring(L, e->name);
    lua_rawseti(L, -2, i++);
  }
  lua_createtable(L, (int)bundle_count, 0);
  for (unsigned b = 0; b < bundle_count; b++) {
    lua_pushstring(L, bundle_table[b].name);
    lua_rawseti(L, -2, (lua_Integer)b + 1);
  }
  lua_pushcfunction(L, help_native);
  lua_pushcfunction(L, help_nearest);
  lua_call(L, 5, 0);
  return 0;
}

/* ---- lines and chunks --------------------------------------------------- */

static void *heap_alloc(lua_State *L, void *p, size_t old, size_t n) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  return f(ud, p, old, n);
}

/* Back to the inline buffer, returning a grown one to the heap. */
static void line_reset(lua_State *L) {
  if (R.line && R.line != R.inline_buf) heap_alloc(L, R.line, R.cap, 0);
  R.line = R.inline_buf;
  R.cap = sizeof R.inline_buf;
  R.len = 0;
  R.overflow = false;
  R.nomem = false;
}

static void line_add(lua_State *L, char c) {
  if (R.overflow) return;
  if (R.len + 1 >= R.cap) { /* keep room for the terminating NUL */
    if (R.cap >= REPL_INPUT_MAX) {
      R.overflow = true;
      return;
    }
    size_t ncap = R.cap * 2 > REPL_INPUT_MAX ? REPL_INPUT_MAX : R.cap * 2;
    char *p = heap_alloc(L, NULL, 0, ncap);
    if (!p) {
      R.overflow = R.nomem = true;
      return;
    }
    memcpy(p, R.line, R.len);
    if (R.line != R.inline_buf) heap_alloc(L, R.line, R.cap, 0);
    R.line = p;
    R.cap = ncap;
  }
  R.line[R.len++] = c;
}

static void drop_pending(lua_State *L) {
  lua_pushnil(L); /* replacing a value by nil never allocates */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key);
  R.more = false;
}

static void too_long(lua_State *L, const char *what, bool nomem) {
  char b[96];
  if (nomem)
    snprintf(b, sizeof b, "stdin: %s dropped: not enough memory\n", what);
  else
    snprintf(b, sizeof b, "stdin: %s too long (max %u bytes), dropped\n", what,
             (unsigned)REPL_INPUT_MAX);
  drop_pending(L);
  write_str(b);
  R.prompted = false;
}

void repl_init(lua_State *L, bool echo) {
  if (R.line && R.line != R.inline_buf) heap_alloc(L, R.line, R.cap, 0);
  memset(&R, 0, sizeof R);
  R.echo = echo;
  R.L = L;
  line_reset(L);
  sched_ref(1); /* input may arrive at any time */
  /* help() is a REPL global only: set raw (a strict _G may refuse). */
  if (lua_checkstack(L, 3)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushliteral(L, "help");
    lua_pushcfunction(L, repl_help);
    lua_rawset(L, -3); /* may raise only when the heap is full at start */
    lua_pop(L, 1);
  }
}

static bool incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return false;
  size_t lmsg;
  const char *msg = lua_tolstring(L, -1, &lmsg);
  static const char eof[] = "<eof>";
  return lmsg >= sizeof eof - 1 && strcmp(msg + lmsg - (sizeof eof - 1), eof) == 0;
}

/* Protected part of repl_line: (line, len) -> state. On the main state,
 * so a full heap raises here and is caught by repl_line. */
static int repl_line_p(lua_State *L) {
  const char *line = lua_touserdata(L, 1);
  size_t len = (size_t)lua_tointeger(L, 2);
  lua_settop(L, 0);
  /* Join with an incomplete chunk from earlier lines. */
  bool joined = lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_key) == LUA_TSTRING;
  if (len > REPL_INPUT_MAX || (joined && lua_rawlen(L, -1) + 1 + len > REPL_INPUT_MAX)) {
    too_long(L, joined ? "chunk" : "line", false); /* readline's lines have no bound */
    lua_pushinteger(L, REPL_READY);
    return 1;
  }
  if (joined) {
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
  int st = luaL_loadbufferx(L, ret, rl, "=stdin", "t");
  if (st != LUA_OK) {
    lua_pop(L, 2);
    st = luaL_loadbufferx(L, code, clen, "=stdin", "t");
  } else {
    lua_remove(L, -2);
  }
  if (!R.at_eof && incomplete(L, st)) {
    lua_pop(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key); /* keep the text */
    R.more = true;
    lua_pushinteger(L, REPL_MORE);
    return 1;
  }
  drop_pending(L);
  if (st != LUA_OK) {
    size_t ml;
    const char *msg = lua_tolstring(L, -1, &ml);
    if (msg) hal_console_write(msg, ml);
    hal_console_write("\n", 1);
    R.prompted = false;
    lua_pushinteger(L, REPL_READY);
    return 1;
  }
  lua_pushcfunction(L, repl_run);
  lua_insert(L, -2);
  R.task = sched_spawn(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &task_key); /* keeps R.task valid */
  R.busy = true;
  lua_pushinteger(L, REPL_RUNNING);
  return 1;
}

repl_state_t repl_line(lua_State *L, const char *line, size_t len) {
  int top = lua_gettop(L);
  repl_state_t r = REPL_READY;
  if (!lua_checkstack(L, 4)) return r;
  lua_pushcfunction(L, repl_line_p);
  lua_pushlightuserdata(L, (void *)line);
  lua_pushinteger(L, (lua_Integer)len);
  /* Compiling and spawning the line may use the grace: a heap the app
   * filled must still take the line that frees it. */
  size_t grace = rt_grace(L, RT_GRACE);
  int st = lua_pcall(L, 2, 1, 0);
  rt_grace(L, grace);
  if (st == LUA_OK) {
    r = (repl_state_t)lua_tointeger(L, -1);
  } else {
    const char *m = lua_tostring(L, -1);
    write_str("stdin: ");
    write_str(m ? m : "error");
    write_str("\n");
    drop_pending(L);
    R.prompted = false;
  }
  lua_settop(L, top);
  return r;
}

/* Protected: (line, len) -> appended to the queue. */
static int enqueue_p(lua_State *L) {
  const char *line = lua_touserdata(L, 1);
  size_t len = (size_t)lua_tointeger(L, 2);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &queue_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &queue_key);
  }
  lua_pushlstring(L, line, len);
  lua_rawseti(L, -2, R.qtail);
  return 0;
}

static void drop_queue(lua_State *L) {
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &queue_key);
  R.qhead = R.qtail = 0;
  R.qbytes = 0;
}

/* A line that ended while a chunk runs: it runs after it, in order. */
static void enqueue(lua_State *L, const char *line, size_t len) {
  if (R.qbytes + len + 1 > REPL_INPUT_MAX) {
    too_long(L, "typed-ahead input", false);
    drop_queue(L);
    return;
  }
  if (!lua_checkstack(L, 4)) return;
  lua_pushcfunction(L, enqueue_p);
  lua_pushlightuserdata(L, (void *)line);
  lua_pushinteger(L, (lua_Integer)len);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    too_long(L, "typed-ahead line", true);
    return;
  }
  R.qtail++;
  R.qbytes += len + 1;
}

/* The chunk has finished: run the lines typed meanwhile, until one of
 * them starts a chunk of its own. */
static void run_queued(lua_State *L) {
  while (!R.busy && R.qhead < R.qtail && lua_checkstack(L, 2)) {
    int top = lua_gettop(L);
    lua_Integer i = R.qhead++;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &queue_key) != LUA_TTABLE ||
        lua_rawgeti(L, -1, i) != LUA_TSTRING) {
      lua_settop(L, top);
      drop_queue(L);
      return;
    }
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    R.qbytes -= n + 1 <= R.qbytes ? n + 1 : R.qbytes;
    lua_pushnil(L);
    lua_rawseti(L, -3, i); /* the string stays alive on the stack */
    if (n > 0 || R.more) repl_line(L, s, n);
    lua_settop(L, top);
  }
  if (R.qhead >= R.qtail && R.qtail > 0) drop_queue(L);
}

/* The end of a line typed or fed byte by byte. */
static void end_line(lua_State *L) {
  R.prompted = false;
  if (R.overflow) {
    too_long(L, "line", R.nomem);
    line_reset(L);
    return;
  }
  R.line[R.len] = '\0';
  if (R.busy) {
    enqueue(L, R.line, R.len);
    line_reset(L);
    return;
  }
  if (R.len == 0 && !R.more) return;
  /* repl_line copies the text before anything can feed more bytes. */
  repl_line(L, R.line, R.len);
  line_reset(L);
}

repl_state_t repl_end(lua_State *L) {
  R.at_eof = true;
  repl_state_t r = REPL_READY;
  if (R.len > 0 || R.overflow || R.more) {
    end_line(L);
    r = R.busy ? REPL_RUNNING : REPL_READY;
  }
  R.at_eof = false;
  return r;
}

/* A chunk's task normally ends through repl_run_k; one cancelled from
 * another task never gets there, so its state is checked too. */
bool repl_busy(void) {
  if (!R.busy || !R.task) return R.busy;
  const char *st = sched_task_status(R.task);
  if (strcmp(st, "ready") == 0 || strcmp(st, "running") == 0 || strcmp(st, "sleeping") == 0 ||
      strcmp(st, "waiting") == 0)
    return true;
  write_str("stdin: the command's task ended without finishing (cancelled)\n");
  chunk_ended(R.L);
  return R.busy;
}

sched_task_t *repl_running_task(void) { return repl_busy() ? R.task : NULL; }

void repl_cancel_input(lua_State *L) {
  line_reset(L);
  drop_pending(L);
  drop_queue(L);
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
  if (!R.line) line_reset(L); /* fed before repl_init */
  bool after_cr = R.after_cr;
  R.after_cr = c == '\r';
  if (c == '\n' && after_cr) return; /* CR LF: one end of line */
  if (c == '\r' || c == '\n') {
    if (R.echo) hal_console_write("\r\n", 2);
    end_line(L);
    return;
  }
  if (c == 0x03 || c == 0x15) { /* ^C, ^U: drop the line (and lines typed ahead) */
    repl_cancel_input(L);
    if (R.echo) hal_console_write("^C\r\n", 4);
    return;
  }
  if (c == 0x08 || c == 0x7f) {
    if (R.len > 0 && !R.overflow) {
      R.len--;
      if (R.echo) hal_console_write("\b \b", 3);
    }
    return;
  }
  if (c < 0x20 && c != '\t') return;
  line_add(L, (char)c);
  if (R.echo && !R.overflow) {
    char ch = (char)c;
    hal_console_write(&ch, 1);
  }
}
