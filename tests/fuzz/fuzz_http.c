/* The HTTP parsers of lua/http.lua on hostile text, without a socket:
 * request heads and bodies (http.parse_request), responses
 * (http.parse_response, also as the answer to a HEAD), and the chunked
 * decoder alone (http.decode_chunked). The first byte picks the parser
 * and the limits; the rest is the message. Besides "no crash", what a
 * parser accepts must be well formed: lower-case header names, a body
 * within max_body, a status of 100..599. */
#include "fuzz.h"
#include "fuzz_luaparse.h"

static const char driver[] =
    "local http = require('http')\n"
    "local function check_headers(h)\n"
    "  for k, v in pairs(h) do\n"
    "    if type(k) ~= 'string' or k ~= k:lower() or k:find('[%s:]') then return 'header name ' .. k end\n"
    "    if type(v) ~= 'string' or v:find('[\\r\\n]') then return 'header value of ' .. k end\n"
    "  end\n"
    "end\n"
    "return function(s)\n"
    "  local sel = s:byte(1) or 0\n"
    "  local text = s:sub(2)\n"
    "  local lim = {max_header = 64 + (sel >> 2) * 16, max_body = 1024, head = sel & 2 == 2}\n"
    "  local mode = sel & 3\n"
    "  if mode == 0 then\n"
    "    local r, err, status = http.parse_request(text, lim)\n"
    "    if r then\n"
    "      if #r.body > lim.max_body then return 'body over max_body' end\n"
    "      if r.path:sub(1, 1) ~= '/' and r.path ~= '*' then return 'path ' .. r.path end\n"
    "      return check_headers(r.headers)\n"
    "    elseif type(err) ~= 'string' or math.type(status) ~= 'integer' and err ~= 'closed' then\n"
    "      return 'request error without a status: ' .. tostring(err)\n"
    "    end\n"
    "  elseif mode == 3 then\n"
    "    local b, err = http.decode_chunked(text, lim.max_body)\n"
    "    if b and #b > lim.max_body then return 'chunked body over max_body' end\n"
    "    if not b and type(err) ~= 'string' then return 'no message' end\n"
    "  else\n"
    "    local r, err = http.parse_response(text, lim)\n"
    "    if r then\n"
    "      if r.status < 100 or r.status > 599 then return 'status ' .. r.status end\n"
    "      if #r.body > lim.max_body then return 'body over max_body' end\n"
    "      return check_headers(r.headers)\n"
    "    elseif type(err) ~= 'string' then\n"
    "      return 'no message'\n"
    "    end\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_luaparse(driver, data, size);
  return 0;
}
