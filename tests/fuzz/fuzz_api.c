/* Structure-aware fuzzer of the Lua API: the input bytes are decoded into
 * a Lua program (call sequences over task, channels, timer, gpio, spi,
 * log, sys, sim, coroutines and the garbage collector, with hostile
 * arguments: NaN, -0.0, 2^63, huge counts, metatables whose metamethods
 * error or yield, functions that error, yield or return thousands of
 * values), which then runs in a fresh simulator state on virtual time,
 * with a heap cap, an instruction budget and a bounded run. Any value
 * and any order must give Lua errors, never a crash (ASan+UBSan).
 *
 * FUZZ_API_PRINT=1 prints each generated program on stderr (to turn a
 * crashing input into a readable reproducer). FUZZ_API_MAXVALS=N caps the
 * number of values passed or returned at once (default 5000), to look past
 * a known bug in moving many values; FUZZ_API_MEM=BYTES sets the heap cap
 * (default 1 MB), a large one looks past out-of-memory bugs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_boot.h"
#include "lauxlib.h"

/* Names the program uses (defined in the prelude below):
 * T tasks, C channels, H timers, D SPI devices, R any results, TH
 * coroutines, F generated functions; E* values whose metamethods error,
 * Y* ones that yield; GCO(k) leaves garbage with a hostile __gc. */
static const char prelude[] =
    "local task, timer, gpio, spi = require('task'), require('timer'), require('gpio'), "
    "require('spi')\n"
    "local log, sys, sim = require('log'), require('sys'), require('sim')\n"
    "local T, C, H, D, R, TH, F = {}, {}, {}, {}, {}, {}, {}\n"
    "local ETS = setmetatable({}, {__tostring = function() error('tostring fails') end})\n"
    "local function ERRF() error(ETS) end\n"
    "local function YIELDF(...) return coroutine.yield(...) end\n"
    "local function TYIELDF() task.yield() return 1 end\n"
    "local function SLEEPF() task.sleep(1) return 2 end\n"
    "local BIG = {}\n"
    "for i = 1, 5000 do BIG[i] = i end\n"
    "local function U(n) return table.unpack(BIG, 1, math.min(n, MAXV)) end\n"
    "local function MANYF() return U(5000) end\n"
    "local function SELFF() local t = task.current() if t then t:cancel() end end\n"
    "local BIGS = 'x'\n" /* 64 KB by doubling: string.rep copies byte by byte */
    "for _ = 1, 16 do BIGS = BIGS .. BIGS end\n"
    "local E_INDEX = setmetatable({}, {__index = ERRF, __newindex = ERRF, __pairs = ERRF})\n"
    "local E_TOSTRING = setmetatable({}, {__tostring = ERRF, __name = 'evil'})\n"
    "local E_EQ = setmetatable({}, {__eq = ERRF, __lt = ERRF, __le = ERRF, __concat = ERRF})\n"
    "local E_CLOSE = setmetatable({}, {__close = ERRF})\n"
    "local Y_CLOSE = setmetatable({}, {__close = TYIELDF})\n"
    "local Y_INDEX = setmetatable({}, {__index = function() task.yield() return 1 end})\n"
    "local Y_TOSTRING = setmetatable({}, {__tostring = function() task.yield() return 'y' end})\n"
    "local E_CALL = setmetatable({}, {__call = ERRF})\n"
    "local E_LEN = setmetatable({}, {__len = ERRF, __index = function(_, k) return k end})\n"
    "local E_NAME = setmetatable({}, {__name = 123, __tostring = function() return {} end})\n"
    "local LOCKED = setmetatable({}, {__metatable = false, __index = ERRF})\n"
    "local GCF = {ERRF, function() if T[1] then T[1]:cancel() end end,\n"
    "  function() if T[1] then T[1]:join(0) end end, function() task.spawn(ERRF) end,\n"
    "  TYIELDF, function() if C[1] then C[1]:send(1) end end,\n"
    "  function() if H[1] then H[1]:cancel() end end, function() error('gc') end}\n"
    "local function GCO(k) setmetatable({}, {__gc = GCF[k]}) end\n"
    "local function P(s, ok, v) if ok and s and v ~= nil then s[#s + 1] = v end end\n";

/* Values of every kind, hostile ones first among equals. */
static const char *const any_vals[] = {
    "nil", "true", "false", "0", "1", "-1", "0.5", "-0.0", "0/0", "1/0", "-1/0", "1e308",
    "-1e308", "math.maxinteger", "math.mininteger", "2^63", "-2^63", "2^53", "4294967296",
    "65536", "1e-320", "''", "'x'", "BIGS", "'\\0'", "'%s%d%q%%'", "'LED0'", "'BTN0'", "'env'",
    "{}", "BIG", "E_INDEX", "E_TOSTRING", "E_EQ", "E_CLOSE", "Y_CLOSE", "Y_INDEX", "Y_TOSTRING",
    "E_CALL", "E_LEN", "E_NAME", "LOCKED", "ERRF", "YIELDF", "TYIELDF", "SLEEPF", "MANYF",
    "SELFF", "coroutine.create(ERRF)", "print", "task", "_G", "coroutine.running()",
    "setmetatable({}, {__gc = ERRF})", "ETS"};
static const char *const num_vals[] = {"0",    "1",     "2",       "10",   "100",
                                       "1000", "0.5",   "-1",      "-0.0", "0/0",
                                       "1/0",  "1e308", "math.maxinteger", "math.mininteger",
                                       "2^63", "nil",   "'10'",    "1e-9", "3", "50"};
static const char *const count_vals[] = {"0", "1", "2", "3", "7", "255", "256", "1000", "5000"};
static const char *const pin_vals[] = {"0",      "1",        "2",           "3",      "4",
                                       "8",      "15",       "16",          "-1",     "'LED0'",
                                       "'BTN0'", "'ACCEL_INT'", "'led0'",   "2^31",   "2^53",
                                       "math.maxinteger", "0.5", "0/0",     "2^32"};
static const char *const mode_vals[] = {"'in'",         "'out'",    "'in_pullup'", "'in_pulldown'",
                                        "'open_drain'", "'output'", "1"};
static const char *const edge_vals[] = {"'rising'", "'falling'", "'both'", "'none'", "'up'"};
static const char *const part_vals[] = {"'BTN0'", "'BTN1'",  "'SW0'",  "'LED0'",
                                        "'env'",  "'accel'", "'loop'", "'nope'"};
static const char *const key_vals[] = {"'pressed'",  "'on'", "'temperature'", "'pressure'",
                                       "'humidity'", "'fault'", "'x'", "'y'", "'z'",
                                       "'active_low'", "'lit'", "'bytes'", "'nope'"};
static const char *const bus_vals[] = {"0", "1", "2", "-1", "99", "2^63", "0/0"};
static const char *const opt_vals[] = {"nil",
                                       "{}",
                                       "{cs = 0}",
                                       "{cs = 1, mode = 3, speed = 1000000}",
                                       "{cs = 0, mode = 4}",
                                       "{cs = 2^63}",
                                       "{speed = 0/0}",
                                       "{cs = 0, bits = 16}",
                                       "{cs = 0, lsb_first = E_INDEX}",
                                       "{hz = 1}",
                                       "E_INDEX"};
static const char *const target_vals[] = {"D[1]", "D[2]", "0", "1", "5", "'x'"};
static const char *const data_vals[] = {"''",   "'\\1\\2\\3'", "BIGS",
                                        "{1, 2, 3}", "{256, -1, 0/0}", "{}",
                                        "BIG",  "'\\255'",     "{E_INDEX}"};
static const char *const fmt_vals[] = {"'%s'", "'%d'",   "'%s %s %s'", "'%q'",
                                       "'%'",  "'%99s'", "''",         "BIGS",
                                       "'x'",  "string.rep('%s', 300)", "E_TOSTRING"};
static const char *const level_vals[] = {"'debug'", "'info'", "'warn'", "'error'",
                                         "'off'",   "'loud'", "nil"};
static const char *const mod_vals[] = {"'task'",   "'gpio'", "'bme280'", "'lis3dh'", "'argcheck'",
                                       "'nope'",   "''",     "'string'", "'sim'",    "'sys'"};
static const char *const func_vals[] = {"ERRF", "YIELDF", "TYIELDF", "SLEEPF", "MANYF",
                                        "SELFF", "E_CALL", "nil",   "42",     "print"};
static const char *const closer_vals[] = {"E_CLOSE", "Y_CLOSE", "nil", "{}", "false"};

#define N(a) (sizeof(a) / sizeof(a[0]))

/* One call per entry; the placeholders are decoded from the input:
 * %a any value, %f function, %n number, %N count, %p pin, %m gpio mode,
 * %e edge, %g part, %k part key, %b bus, %o spi options, %d spi target,
 * %x spi data, %s format, %l log level, %M module name, %t task,
 * %c channel, %h timer, %w coroutine. `store`: where the result goes. */
static const struct {
  const char *fmt;
  const char *store;
} ops[] = {
    {"task.spawn(%f, %a, %a)", "T"},
    {"task.spawn(%f, U(%N))", "T"},
    {"task.sleep(%n)", NULL},
    {"task.yield()", NULL},
    {"task.wait(%a, %n)", "R"},
    {"task.signal(%a, %a, %a)", NULL},
    {"task.signal(%a, U(%N))", NULL},
    {"task.current()", "T"},
    {"task.count()", NULL},
    {"task.channel(%n)", "C"},
    {"%t:cancel()", NULL},
    {"%t:status()", NULL},
    {"%t:id()", NULL},
    {"%t:join(%n)", "R"},
    {"%c:send(%a, %n)", NULL},
    {"%c:recv(%n)", "R"},
    {"%c:close()", NULL},
    {"#%c", NULL},
    {"timer.after(%n, %f)", "H"},
    {"timer.every(%n, %f)", "H"},
    {"%h:cancel()", NULL},
    {"%h:active()", NULL},
    {"%h:count()", NULL},
    {"gpio.mode(%p, %m)", NULL},
    {"gpio.read(%p)", NULL},
    {"gpio.write(%p, %a)", NULL},
    {"gpio.toggle(%p)", NULL},
    {"gpio.on(%p, %e, %f)", NULL},
    {"gpio.off(%p)", NULL},
    {"gpio.pin(%p)", NULL},
    {"gpio.name(%p)", NULL},
    {"gpio.count()", NULL},
    {"gpio.dropped()", NULL},
    {"spi.setup(%b, %o)", "D"},
    {"spi.transfer(%d, %x)", "R"},
    {"spi.write(%d, %x)", NULL},
    {"spi.read(%d, %n, %a)", "R"},
    {"log.info(%s, %a, %a)", NULL},
    {"log.warn(%a)", NULL},
    {"log.error(%s, U(%N))", NULL},
    {"log.debug(%s, %a)", NULL},
    {"log.level(%s, %l)", NULL},
    {"log.tag(%s)", "R"},
    {"log.sink(%f)", NULL},
    {"sys.uptime()", NULL},
    {"sys.memory()", "R"},
    {"sys.collect()", NULL},
    {"sys.modules()", "R"},
    {"sys.reload(%M)", NULL},
    {"sys.tasks()", NULL},
    {"sys.board()", NULL},
    {"sim.press(%g)", NULL},
    {"sim.release(%g)", NULL},
    {"sim.switch(%g, %a)", NULL},
    {"sim.led(%g)", NULL},
    {"sim.pin(%p)", NULL},
    {"sim.drive(%p, %a)", NULL},
    {"sim.part(%g):set(%k, %a)", NULL},
    {"sim.part(%g):get(%k)", NULL},
    {"sim.part(%g):set({[%k] = %a})", NULL},
    {"sim.spi_trace()", "R"},
    {"sim.spi_trace_clear()", NULL},
    {"sim.gpio_trace()", "R"},
    {"sim.gpio_trace_clear()", NULL},
    {"sim.parts()", "R"},
    {"coroutine.wrap(%f)(%a)", NULL},
    {"coroutine.running()", "TH"},
    {"coroutine.resume(%w, %a)", NULL},
    {"coroutine.close(%w)", NULL},
    {"coroutine.create(%f)", "TH"},
    {"GCO(%N)", NULL},
    {"collectgarbage()", NULL},
    {"collectgarbage('step', %N)", NULL},
    {"error(%a)", NULL},
    {"(%f)(%a)", NULL},
    {"tostring(%a)", NULL},
    {"%a == %a", NULL},
    {"%a .. %a", NULL},
    {"(%a)[%a]", NULL},
    {"require(%M)", "R"},
    {"setmetatable(_G, {__index = ERRF, __newindex = ERRF})", NULL},
    {"setmetatable(_G, nil)", NULL},
    {"require(%M).new(D[1])", "R"},
};

typedef struct {
  const uint8_t *p, *end;
  char *out;
  size_t len, cap;
  int nfuncs;
} gen_t;

static unsigned rd(gen_t *g) { return g->p < g->end ? *g->p++ : 0; }

static void emit(gen_t *g, const char *s) {
  size_t n = strlen(s);
  if (g->len + n + 1 > g->cap) return; /* the program is complete up to here */
  memcpy(g->out + g->len, s, n);
  g->len += n;
  g->out[g->len] = '\0';
}

static void emitf(gen_t *g, const char *fmt, int v) {
  char b[32];
  snprintf(b, sizeof b, fmt, v);
  emit(g, b);
}

#define PICK(g, arr) emit((g), (arr)[rd(g) % N(arr)])

static void value(gen_t *g, char kind) {
  unsigned b = g->p < g->end ? *g->p : 0;
  if (b >= 0xf0 && kind != 'a') { /* any slot may get any value */
    g->p++;
    emit(g, "("); /* `('x'):cancel()`, not `'x':cancel()` */
    emit(g, any_vals[b % N(any_vals)]);
    emit(g, ")");
    return;
  }
  switch (kind) {
    case 'a': {
      unsigned c = rd(g);
      static const char *const refs[] = {"T", "C", "H", "D", "R", "TH", "F"};
      if (c < 0xa0) {
        emit(g, any_vals[c % N(any_vals)]);
      } else {
        emit(g, refs[c % N(refs)]);
        emitf(g, "[%d]", (int)(c >> 5) % 3 + 1);
      }
      break;
    }
    case 'f': {
      unsigned c = rd(g);
      if (c & 1 && g->nfuncs > 0) emitf(g, "F[%d]", (int)(c >> 1) % g->nfuncs + 1);
      else emit(g, func_vals[(c >> 1) % N(func_vals)]);
      break;
    }
    case 'n': PICK(g, num_vals); break;
    case 'N': PICK(g, count_vals); break;
    case 'p': PICK(g, pin_vals); break;
    case 'm': PICK(g, mode_vals); break;
    case 'e': PICK(g, edge_vals); break;
    case 'g': PICK(g, part_vals); break;
    case 'k': PICK(g, key_vals); break;
    case 'b': PICK(g, bus_vals); break;
    case 'o': PICK(g, opt_vals); break;
    case 'd': PICK(g, target_vals); break;
    case 'x': PICK(g, data_vals); break;
    case 's': PICK(g, fmt_vals); break;
    case 'l': PICK(g, level_vals); break;
    case 'M': PICK(g, mod_vals); break;
    case 't': {
      unsigned c = rd(g);
      if (c % 5 == 4) emit(g, "task.current()");
      else emitf(g, "T[%d]", (int)c % 5 + 1);
      break;
    }
    case 'c': emitf(g, "C[%d]", (int)rd(g) % 3 + 1); break;
    case 'h': emitf(g, "H[%d]", (int)rd(g) % 3 + 1); break;
    case 'w': {
      unsigned c = rd(g);
      if (c % 4 == 3) emit(g, "coroutine.running()");
      else emitf(g, "TH[%d]", (int)c % 4 + 1);
      break;
    }
    default: emit(g, "nil");
  }
}

static void call(gen_t *g, const char *fmt) {
  for (const char *f = fmt; *f; f++) {
    if (*f == '%' && f[1]) {
      value(g, *++f);
    } else {
      char c[2] = {*f, 0};
      emit(g, c);
    }
  }
}

static void statement(gen_t *g, int depth) {
  unsigned how = rd(g);
  /* Blocks around a statement: a to-be-closed value, a loop, a task. */
  if (depth < 3) {
    switch (how % 16) {
      case 13:
        emit(g, "do local _c <close> = ");
        PICK(g, closer_vals);
        emit(g, "\n");
        statement(g, depth + 1);
        emit(g, "end\n");
        return;
      case 14:
        emit(g, "for _ = 1, ");
        PICK(g, count_vals);
        emit(g, " do\n");
        statement(g, depth + 1);
        emit(g, "end\n");
        return;
      case 15:
        emit(g, "P(T, pcall(task.spawn, function(...)\n");
        statement(g, depth + 1);
        emit(g, "end, ");
        value(g, 'a');
        emit(g, "))\n");
        return;
      default: break;
    }
  }
  unsigned k = rd(g) % N(ops);
  const char *store = ops[k].store ? ops[k].store : "nil";
  if (how % 8 == 0) {
    /* Unprotected: the error (whatever its value) ends the task. */
    emit(g, "P(");
    emit(g, store);
    emit(g, ", true, ");
    call(g, ops[k].fmt);
    emit(g, ")\n");
  } else {
    emit(g, "P(");
    emit(g, store);
    emit(g, ", pcall(function(...) return ");
    call(g, ops[k].fmt);
    emit(g, " end, ...))\n");
  }
}

/* Functions first (they may name each other), then the main body. */
static void program(gen_t *g) {
  static int maxv = -1;
  if (maxv < 0) {
    const char *e = getenv("FUZZ_API_MAXVALS");
    maxv = e ? atoi(e) : 5000;
  }
  emitf(g, "local MAXV = %d\n", maxv);
  emit(g, prelude);
  g->nfuncs = 1 + (int)(rd(g) % 4);
  for (int i = 1; i <= g->nfuncs; i++) {
    emitf(g, "F[%d] = function(...)\n", i);
    int n = (int)(rd(g) % 8);
    for (int s = 0; s < n && g->p < g->end; s++) statement(g, 1);
    emit(g, "return ...\nend\n");
  }
  while (g->p < g->end) statement(g, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char buf[1 << 16];
  gen_t g = {data, data + size, buf, 0, sizeof buf, 0};
  buf[0] = '\0';
  program(&g);
  static int print = -1;
  if (print < 0) print = getenv("FUZZ_API_PRINT") != NULL;
  if (print) fprintf(stderr, "---- program (%zu bytes of input)\n%s----\n", size, buf);

  static size_t mem = 0;
  if (!mem) {
    const char *e = getenv("FUZZ_API_MEM");
    mem = e ? (size_t)strtoull(e, NULL, 10) : 1u << 20;
  }
  lua_State *L = fuzz_boot(mem, NULL);
  if (!L) abort();
  /* Every generated program compiles (or the generator is wrong),
   * except when the text was cut at the buffer's end. */
  if (luaL_loadbufferx(L, buf, g.len, "=fuzz", "t") != LUA_OK) {
    if (g.len + 256 < g.cap) {
      fprintf(stderr, "%s\nfuzz_api: generated program (above) does not compile: %s\n", buf,
              lua_tostring(L, -1));
      abort();
    }
    lua_pop(L, 1);
  } else {
    sched_spawn(L, 0);
    lua_pop(L, 1);
  }
  fuzz_run(L, 2u * 1000 * 1000);
  fuzz_shutdown(L);
  return 0;
}
