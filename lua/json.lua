-- JSON (RFC 8259): a strict decoder with depth and size limits, and an
-- encoder. Pure Lua, no C; docs/json.md. Decoding hostile text returns
-- nil and a message naming the byte offset, never raises; encoding a value
-- that has no JSON form (a cycle, a function, NaN) raises, as for any bad
-- argument.
local M = { _VERSION = "1.0" }

local byte, sub, find, char = string.byte, string.sub, string.find, string.char
local concat, tointeger, utf8len = table.concat, math.tointeger, utf8.len
local fmt = string.format

-- The JSON null: a unique value (Lua's nil cannot be stored in a table).
M.null = setmetatable({}, {
  __name = "json.null",
  __tostring = function() return "null" end,
  __newindex = function() error("json.null is read-only", 2) end,
})

-- Metatables that mark decoded arrays and objects, so an empty one encodes
-- back as it came ([] or {}); json.array / json.object set them.
local array_mt = { __name = "json.array" }
local object_mt = { __name = "json.object" }
M.array_mt, M.object_mt = array_mt, object_mt

function M.array(t)
  if t ~= nil and type(t) ~= "table" then
    error("bad argument #1 to 'json.array' (table expected, got " .. type(t) .. ")", 2)
  end
  return setmetatable(t or {}, array_mt)
end

function M.object(t)
  if t ~= nil and type(t) ~= "table" then
    error("bad argument #1 to 'json.object' (table expected, got " .. type(t) .. ")", 2)
  end
  return setmetatable(t or {}, object_mt)
end

M.MAX_DEPTH = 64
M.MAX_SIZE = 1024 * 1024

---------------------------------------------------------------- decoding

local escapes = {
  [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f",
  [110] = "\n", [114] = "\r", [116] = "\t",
}

-- A decode failure travels as an error value of this table and is
-- turned into nil, message at the top; nothing else is caught.
local Fail = {}

-- Strict UTF-8 (no overlong forms, surrogates or code points past
-- U+10FFFF). Bytes F8..FF never occur in UTF-8; they are refused before
-- utf8.len sees them: Lua 5.4.4's decoder shifts past 32 bits on a run
-- of continuation bytes after FF (undefined behaviour in C).
local function valid_utf8(s)
  return not find(s, "[\248-\255]") and utf8len(s) ~= nil
end

local function fail(pos, msg)
  error(setmetatable({ pos = pos, msg = msg }, Fail), 0)
end

local function utf8_of(cp)
  return utf8.char(cp)
end

local decode_value

local function skip_ws(s, pos)
  return find(s, "[^ \t\r\n]", pos) or #s + 1
end

local function decode_string(s, pos)
  -- pos is at the opening quote
  local parts, n = nil, 0
  local i = pos + 1
  while true do
    local j = find(s, '[%z\1-\31"\\]', i)
    if not j then fail(pos, "unterminated string") end
    local c = byte(s, j)
    if c == 34 then -- closing quote
      local piece = sub(s, i, j - 1)
      if not valid_utf8(piece) then fail(i, "invalid UTF-8 in string") end
      if not parts then return piece, j + 1 end
      n = n + 1
      parts[n] = piece
      return concat(parts), j + 1
    elseif c ~= 92 then
      fail(j, fmt("control character 0x%02x in string (escape it)", c))
    end
    parts = parts or {}
    local piece = sub(s, i, j - 1)
    if not valid_utf8(piece) then fail(i, "invalid UTF-8 in string") end
    n = n + 1
    parts[n] = piece
    local e = byte(s, j + 1)
    if e == 117 then -- \uXXXX
      local hex = sub(s, j + 2, j + 5)
      if not find(hex, "^%x%x%x%x$") then fail(j, "bad \\u escape (4 hex digits expected)") end
      local cp = tonumber(hex, 16)
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = find(s, "^\\u[dD][c-fC-F]%x%x", i) and tonumber(sub(s, i + 2, i + 5), 16)
        if not lo then fail(j, "unpaired surrogate in \\u escape") end
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
        i = i + 6
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        fail(j, "unpaired surrogate in \\u escape")
      end
      n = n + 1
      parts[n] = utf8_of(cp)
    else
      local r = e and escapes[e]
      if not r then fail(j, "bad escape in string") end
      n = n + 1
      parts[n] = r
      i = j + 2
    end
  end
end

local function decode_number(s, pos)
  local _, e, int = find(s, "^-?(%d+)", pos)
  if not e then fail(pos, "unexpected character") end
  if #int > 1 and byte(int) == 48 then fail(pos, "leading zero in number") end
  local isint = true
  local _, fe = find(s, "^%.%d+", e + 1)
  if fe then
    e, isint = fe, false
  elseif byte(s, e + 1) == 46 then
    fail(e + 1, "digit expected after '.'")
  end
  local c = byte(s, e + 1)
  if c == 101 or c == 69 then
    local _, ee = find(s, "^[eE][-+]?%d+", e + 1)
    if not ee then fail(e + 1, "digit expected in exponent") end
    e, isint = ee, false
  end
  local text = sub(s, pos, e)
  local v
  if isint then v = tointeger(tonumber(text)) end
  if not v then
    v = tonumber(text) + 0.0 -- beyond 64 bits: a float
    if v == math.huge or v == -math.huge then fail(pos, "number out of range") end
  end
  return v, e + 1
end

local function decode_array(s, pos, depth, lim)
  if depth > lim.depth then fail(pos, "nesting deeper than " .. lim.depth) end
  local t, n = setmetatable({}, array_mt), 0
  pos = skip_ws(s, pos + 1)
  if byte(s, pos) == 93 then return t, pos + 1 end
  while true do
    local v
    v, pos = decode_value(s, pos, depth, lim)
    n = n + 1
    t[n] = v
    pos = skip_ws(s, pos)
    local c = byte(s, pos)
    if c == 93 then return t, pos + 1 end
    if c ~= 44 then fail(pos, c and "',' or ']' expected" or "unterminated array") end
    pos = skip_ws(s, pos + 1)
  end
end

local function decode_object(s, pos, depth, lim)
  if depth > lim.depth then fail(pos, "nesting deeper than " .. lim.depth) end
  local t = setmetatable({}, object_mt)
  pos = skip_ws(s, pos + 1)
  if byte(s, pos) == 125 then return t, pos + 1 end
  while true do
    if byte(s, pos) ~= 34 then fail(pos, byte(s, pos) and "string key expected" or "unterminated object") end
    local k
    local kpos = pos
    k, pos = decode_string(s, pos)
    pos = skip_ws(s, pos)
    if byte(s, pos) ~= 58 then fail(pos, "':' expected") end
    pos = skip_ws(s, pos + 1)
    local v
    v, pos = decode_value(s, pos, depth, lim)
    if t[k] ~= nil then fail(kpos, "duplicate key '" .. k .. "'") end
    t[k] = v
    pos = skip_ws(s, pos)
    local c = byte(s, pos)
    if c == 125 then return t, pos + 1 end
    if c ~= 44 then fail(pos, c and "',' or '}' expected" or "unterminated object") end
    pos = skip_ws(s, pos + 1)
  end
end

decode_value = function(s, pos, depth, lim)
  local c = byte(s, pos)
  if c == 123 then return decode_object(s, pos, depth + 1, lim) end
  if c == 91 then return decode_array(s, pos, depth + 1, lim) end
  if c == 34 then return decode_string(s, pos) end
  if c == 116 then
    if sub(s, pos, pos + 3) == "true" then return true, pos + 4 end
  elseif c == 102 then
    if sub(s, pos, pos + 4) == "false" then return false, pos + 5 end
  elseif c == 110 then
    if sub(s, pos, pos + 3) == "null" then return M.null, pos + 4 end
  elseif c == nil then
    fail(pos, "value expected, got the end")
  else
    return decode_number(s, pos)
  end
  fail(pos, "unexpected character")
end

local decode_keys = { max_depth = true, max_size = true }

--- json.decode(text, [{max_depth =, max_size =}]) -> value | nil, err
function M.decode(s, opts)
  if type(s) ~= "string" then
    error("bad argument #1 to 'json.decode' (string expected, got " .. type(s) .. ")", 2)
  end
  local lim = { depth = M.MAX_DEPTH, size = M.MAX_SIZE }
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("bad argument #2 to 'json.decode' (table expected, got " .. type(opts) .. ")", 2)
    end
    for k, v in pairs(opts) do
      if not decode_keys[k] then
        error("bad argument #2 to 'json.decode' (unknown option '" .. tostring(k)
          .. "'; valid: max_depth, max_size)", 2)
      end
      if type(v) ~= "number" or tointeger(v) == nil or v < 1 then
        error("bad argument #2 to 'json.decode' (option '" .. k .. "' must be a positive integer)", 2)
      end
    end
    lim.depth = opts.max_depth or lim.depth
    lim.size = opts.max_size or lim.size
  end
  if #s > lim.size then
    return nil, fmt("json: text of %d bytes exceeds the limit of %d", #s, lim.size)
  end
  local ok, v = pcall(function()
    local p = skip_ws(s, 1)
    local val, q = decode_value(s, p, 0, lim)
    q = skip_ws(s, q)
    if q <= #s then fail(q, "trailing characters after the value") end
    return val, q
  end)
  if ok then return v end
  if getmetatable(v) == Fail then
    return nil, fmt("json: %s at byte %d", v.msg, v.pos)
  end
  -- A max_depth raised past what the Lua stack holds: still an answer,
  -- not an error (hostile text never raises).
  if type(v) == "string" and find(v, "stack overflow", 1, true) then
    return nil, "json: nesting too deep for the Lua stack (lower max_depth)"
  end
  error(v, 0) -- not ours (out of memory): pass it on
end

---------------------------------------------------------------- encoding

local str_escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for i = 0, 31 do
  local c = char(i)
  if not str_escapes[c] then str_escapes[c] = fmt("\\u%04x", i) end
end

local function encode_string(s, path)
  if not valid_utf8(s) then
    error(fmt("bad argument #1 to 'json.encode' (invalid UTF-8 in string at %s)", path), 0)
  end
  return '"' .. s:gsub('[%z\1-\31"\\]', str_escapes) .. '"'
end

local function encode_number(v, path)
  if math.type(v) == "integer" then return fmt("%d", v) end
  if v ~= v or v == math.huge or v == -math.huge then
    error(fmt("bad argument #1 to 'json.encode' (%s at %s has no JSON form)", tostring(v), path), 0)
  end
  local s = fmt("%.14g", v)
  if tonumber(s) ~= v then s = fmt("%.17g", v) end
  return s
end

local encode_value

local function encode_table(t, out, n, seen, path, depth)
  if seen[t] then
    error(fmt("bad argument #1 to 'json.encode' (cycle at %s)", path), 0)
  end
  if depth > M.MAX_DEPTH then
    error(fmt("bad argument #1 to 'json.encode' (nesting deeper than %d at %s)", M.MAX_DEPTH, path), 0)
  end
  seen[t] = true
  local mt = getmetatable(t)
  local count, maxi, strkeys = 0, 0, false
  for k in pairs(t) do
    count = count + 1
    if math.type(k) == "integer" and k >= 1 then
      if k > maxi then maxi = k end
    elseif type(k) == "string" then
      strkeys = true
    else
      error(fmt("bad argument #1 to 'json.encode' (key %s at %s: keys must be strings or 1..n)",
        tostring(k), path), 0)
    end
  end
  local as_array
  if mt == array_mt then
    as_array = true
  elseif mt == object_mt then
    as_array = false
  else
    as_array = count > 0 and not strkeys
  end
  if as_array then
    if strkeys or maxi ~= count then
      error(fmt("bad argument #1 to 'json.encode' (table at %s mixes keys or has holes; "
        .. "an array needs keys 1..n, an object string keys)", path), 0)
    end
    n = n + 1
    out[n] = "["
    for i = 1, maxi do
      if i > 1 then
        n = n + 1
        out[n] = ","
      end
      n = encode_value(t[i], out, n, seen, path .. "[" .. i .. "]", depth + 1)
    end
    n = n + 1
    out[n] = "]"
  else
    if maxi > 0 then
      error(fmt("bad argument #1 to 'json.encode' (table at %s mixes keys; "
        .. "an array needs keys 1..n, an object string keys)", path), 0)
    end
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys) -- the same table always encodes the same way
    n = n + 1
    out[n] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then
        n = n + 1
        out[n] = ","
      end
      n = n + 1
      out[n] = encode_string(k, path)
      n = n + 1
      out[n] = ":"
      n = encode_value(t[k], out, n, seen, path .. "." .. k, depth + 1)
    end
    n = n + 1
    out[n] = "}"
  end
  seen[t] = nil
  return n
end

encode_value = function(v, out, n, seen, path, depth)
  local tv = type(v)
  if tv == "table" then
    if v == M.null then
      n = n + 1
      out[n] = "null"
      return n
    end
    return encode_table(v, out, n, seen, path, depth)
  end
  n = n + 1
  if tv == "string" then
    out[n] = encode_string(v, path)
  elseif tv == "number" then
    out[n] = encode_number(v, path)
  elseif tv == "boolean" then
    out[n] = v and "true" or "false"
  elseif v == nil then
    out[n] = "null"
  else
    error(fmt("bad argument #1 to 'json.encode' (%s at %s has no JSON form)", tv, path), 0)
  end
  return n
end

--- json.encode(value) -> text (raises for a value with no JSON form)
function M.encode(v)
  local out = {}
  local ok, err = pcall(encode_value, v, out, 0, {}, "$", 0)
  if not ok then error(err, 2) end
  return concat(out)
end

return M
