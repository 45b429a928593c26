-- Argument checking for pure-Lua modules: messages name the module, the
-- function and the argument, and errors blame the caller of the public
-- function, as luaL_check* does for native modules.
--
--   local check = require("argcheck").for_module("bme280")
--   check.int("new", 1, "bus", bus, 0, spi.buses - 1)
local M = { _VERSION = "1.0" }

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

  -- Options table `opts` (argument n) merged over `base`; names not in
  -- `known` are rejected. Called from the module's option checker, which
  -- the public function calls (so errors go two frames up).
  function C.merge(fn, n, opts, base, known)
    if opts ~= nil and type(opts) ~= "table" then
      C.fail(3, fn, "bad argument #%d 'opts' (table expected, got %s)", n, type(opts))
    end
    local cfg = {}
    for k, v in pairs(base) do cfg[k] = v end
    for k, v in pairs(opts or {}) do
      if known[k] == nil then C.fail(3, fn, "unknown option '%s'", tostring(k)) end
      cfg[k] = v
    end
    return cfg
  end

  return C
end

return M
