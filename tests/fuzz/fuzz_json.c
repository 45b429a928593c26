/* The JSON decoder of lua/json.lua on hostile text (small depth and size
 * limits from the first byte, so the limits are reached too). What it
 * accepts must encode again, and that text must decode and encode to
 * itself (the encoder's output is canonical). */
#include "fuzz.h"
#include "fuzz_luaparse.h"

static const char driver[] =
    "local json = require('json')\n"
    "return function(s)\n"
    "  local sel = s:byte(1) or 0\n"
    "  local text = s:sub(2)\n"
    "  local opts = sel >= 128 and {max_depth = 1 + sel % 16, max_size = 64 + sel} or nil\n"
    "  local v, err = json.decode(text, opts)\n"
    "  if v == nil then\n"
    "    if type(err) ~= 'string' or not err:find('^json: ') then return 'bad message ' .. tostring(err) end\n"
    "    return\n"
    "  end\n"
    "  local ok, e1 = pcall(json.encode, v)\n"
    "  if not ok then return 'accepted but does not encode: ' .. tostring(e1) end\n"
    "  local v2, err2 = json.decode(e1)\n"
    "  if v2 == nil then return 'own output refused: ' .. tostring(err2) .. ' in ' .. e1 end\n"
    "  local e2 = json.encode(v2)\n"
    "  if e1 ~= e2 then return 'not canonical: ' .. e1 .. ' vs ' .. e2 end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_luaparse(driver, data, size);
  return 0;
}
