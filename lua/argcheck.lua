-- Argument checking for pure-Lua modules: messages name the module, the
-- function and the argument, and errors blame the caller of the public
-- function, as luaL_check* does for native modules.
--
--   local check = require("argcheck").for_module("bme280")
--   check.int("new", 1, "bus", bus, 0, spi.buses - 1)
local M = { _VERSION = "1.0" }

-- Edit distance counting a swap of two neighbours as one edit, letter
-- case ignored: the same rule as luaos_nearest in C (shared/luaos.c).
local function distance(a, b)
  a, b = a:lower(), b:lower()
  local la, lb = #a, #b
  if la > 32 or lb > 32 then return math.huge end
  local prev2, prev = {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    local cur = { [0] = i }
    local ca = a:byte(i)
    for j = 1, lb do
      local cb = b:byte(j)
      local best = prev[j - 1] + (ca == cb and 0 or 1)
      best = math.min(best, prev[j] + 1, cur[j - 1] + 1)
      if i > 1 and j > 1 and ca == b:byte(j - 1) and a:byte(i - 1) == cb then
        best = math.min(best, prev2[j - 2] + 1)
      end
      cur[j] = best
    end
    prev2, prev = prev, cur
  end
  return prev[lb]
end

--- Of the strings in the list `cands`, the one closest to `word`, or nil
-- when none is close enough to be a likely typo (1 edit for names up to
-- 4 letters, 2 up to 8, 3 beyond).
function M.nearest(word, cands)
  local best, best_d = nil, math.huge
  for _, c in ipairs(cands) do
    local d = distance(word, c)
    if d < best_d then best, best_d = c, d end
  end
  local allowed = #word <= 4 and 1 or #word <= 8 and 2 or 3
  if best_d <= allowed then return best end
  return nil
end

--- "; did you mean 'y'?" when `word` is close to one of `cands`,
-- otherwise "; valid: a, b, c" (as luaos_push_hint in C).
function M.hint(word, cands)
  local near = M.nearest(word, cands)
  if near then return ("; did you mean '%s'?"):format(near) end
  return "; valid: " .. table.concat(cands, ", ")
end

-- What an SPI chip's id register read back says about the chip, for the
-- drivers' fault messages: nil when it is `expected`.
function M.id_problem(id, expected)
  if id == 0xFF then
    return "no response (data 0xFF...; chip disconnected or bus floating?)"
  elseif id == 0 then
    return "no response (data 0x00...; chip unpowered?)"
  elseif id ~= expected then
    return ("no response (id 0x%02x, expected 0x%02x)"):format(id, expected)
  end
  return nil
end

function M.for_module(modname)
  local C = {}

  -- `level` counts the helper frames between the public function and
  -- this call (1: called from the public function itself).
  function C.fail(level, fn, msg, ...)
    error((modname .. ".%s: " .. msg):format(fn, ...), level + 2)
  end

  -- An integer argument in lo..hi; called from the public function.
  function C.int(fn, n, name, v, lo, hi)
    if math.type(v) ~= "integer" then
      C.fail(2, fn, "bad argument #%d '%s' (integer expected, got %s)", n, name,
             math.type(v) or type(v))
    end
    if v < lo or v > hi then
      C.fail(2, fn, "bad argument #%d '%s' (%d out of range %d..%d)", n, name, v, lo, hi)
    end
  end

  -- "a, b, c": the keys of a lookup table, numbers first, for messages.
  function C.choices(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    for i, k in ipairs(keys) do keys[i] = tostring(k) end
    return table.concat(keys, ", ")
  end

  -- A value for messages: strings quoted (so "4" does not read as 4),
  -- tables and functions by type.
  function C.describe(v)
    local t = type(v)
    if t == "string" then return ("'%s'"):format(v) end
    if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
    return t
  end

  -- Options table `opts` (argument n) merged over `base`; names not in
  -- `known` are rejected with the nearest valid name, and a value whose
  -- type differs from the one in `base` is rejected too. Called from the
  -- module's option checker, which the public function calls (so errors
  -- go two frames up).
  function C.merge(fn, n, opts, base, known)
    if opts ~= nil and type(opts) ~= "table" then
      C.fail(3, fn, "bad argument #%d 'opts' (table expected, got %s)", n, type(opts))
    end
    local cfg = {}
    for k, v in pairs(base) do cfg[k] = v end
    for k, v in pairs(opts or {}) do
      if type(k) ~= "string" then
        C.fail(3, fn, "bad argument #%d 'opts' (option keys must be strings, got a %s key)", n,
               type(k))
      end
      if known[k] == nil then
        local names = {}
        for name in pairs(known) do names[#names + 1] = name end
        table.sort(names)
        C.fail(3, fn, "bad argument #%d 'opts' (unknown option '%s'%s)", n, k, M.hint(k, names))
      end
      if base[k] ~= nil and type(v) ~= type(base[k]) then
        C.fail(3, fn, "bad option '%s' (%s expected, got %s%s)", k, type(base[k]), type(v),
               type(v) ~= "table" and type(v) ~= "function" and " " .. C.describe(v) or "")
      end
      cfg[k] = v
    end
    return cfg
  end

  return C
end

return M
