/* The MQTT packet decoder of lua/mqtt.lua (mqtt.packet.decode), which the
 * client runs on every packet a broker sends: the input is a stream of
 * packets, decoded one after another. Every result must be a clean
 * outcome: a packet table, or nil and a message string ("truncated" or
 * "malformed packet: ..."). A decoded packet must encode back to bytes that
 * decode to the same table (the encoder and decoder agree). Topic-filter
 * checks and matching get the input's halves too. Any other Lua error
 * (a failed assertion, an error raised inside the decoder) aborts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_boot.h"
#include "lauxlib.h"

static const char driver[] =
    "local P = require('mqtt').packet\n"
    "local function same(a, b)\n"
    "  if type(a) ~= 'table' or type(b) ~= 'table' then return a == b end\n"
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local s, max = ...\n"
    "local pos = 1\n"
    "for _ = 1, 256 do\n"
    "  local p, nxt = P.decode(s, pos, max)\n"
    "  if not p then\n"
    "    assert(type(nxt) == 'string', 'decode: no message')\n"
    "    assert(nxt == 'truncated' or nxt:find('^malformed packet: '), nxt)\n"
    "    break\n"
    "  end\n"
    "  assert(math.type(nxt) == 'integer' and nxt > pos and nxt <= #s + 1, 'bad next position')\n"
    "  local enc = P.encode(p)\n"
    "  local q, n2 = P.decode(enc)\n"
    "  assert(q, 'a decoded packet does not decode after encoding: ' .. tostring(n2))\n"
    "  assert(n2 == #enc + 1 and same(p, q), 'encode/decode disagree on ' .. p.type)\n"
    "  pos = nxt\n"
    "end\n"
    "local h = #s // 2\n"
    "local f, t = s:sub(1, h), s:sub(h + 1)\n"
    "local why = P.filter_problem(f)\n"
    "assert(why == nil or type(why) == 'string')\n"
    "if not why and P.valid_utf8(t) and t ~= '' then\n"
    "  local m = P.match(f, t)\n"
    "  assert(type(m) == 'boolean')\n"
    "  if f == t then assert(m, 'a topic must match itself') end\n"
    "end\n";

static lua_State *L;
static int ref = LUA_NOREF;

static void shutdown(void) {
  if (L) fuzz_shutdown(L);
  L = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) {
    /* One state for every input: decoding has no side effects, and it is
     * bounded by the input (no instruction budget needed). */
    L = fuzz_boot(8u << 20, LUAOS_SOURCE_DIR "/lua");
    if (!L) abort();
    lua_sethook(L, NULL, 0, 0);
    if (luaL_loadbufferx(L, driver, sizeof driver - 1, "=fuzz_mqtt", "t") != LUA_OK) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      abort();
    }
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
    atexit(shutdown);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_pushlstring(L, (const char *)data, size);
  /* A small limit now and then, so the "over the limit" path runs too. */
  if (size > 0 && (data[0] & 7) == 7)
    lua_pushinteger(L, 64);
  else
    lua_pushnil(L);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg && strstr(msg, "not enough memory")) {
      lua_pop(L, 1);
      return 0;
    }
    fprintf(stderr, "fuzz_mqtt: %s\n", msg ? msg : "(error object)");
    abort();
  }
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
