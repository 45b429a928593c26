-- mini_busted: the part of Busted that portable specs use, small enough to
-- bundle into firmware. Specs written for it also run under real Busted in
-- the simulator (tests/lua/portable/*_spec.lua).
--
--   describe, it, pending, before_each, after_each, setup/teardown (and
--   Busted's names for them: lazy_/strict_setup, lazy_/strict_teardown):
--   once for a block, before its first test and after its last; a block
--   without tests runs neither)
--   assert.<chain>: equal/equals, same, true, false, truthy, falsy, nil,
--   error/errors (has_error), error_matches, matches, near; chains may
--   use is/are/has/was and not/no, e.g. assert.are.equal, assert.is_not_nil,
--   assert.has_no.errors; assert(v, msg) works as the plain assert.
--
-- run(source, chunkname) loads a spec from its source text, runs every
-- test and prints TAP (one "ok"/"not ok" line per test, "#" lines for
-- messages, the "1..N" plan last) so a host can read the results from a
-- UART. Tests run in the calling task; they may sleep and wait.
local M = {}

local fail_mt = {__tostring = function(f) return f.msg end}

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local parts, n = {}, 0
    for k, x in pairs(v) do
      n = n + 1
      if n > 8 then parts[#parts + 1] = "..."; break end
      parts[#parts + 1] = "[" .. show(k) .. "]=" .. (type(x) == "table" and tostring(x) or show(x))
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v) .. " (" .. type(v) .. ")"
end

local function same(a, b, seen)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do
    if not same(v, b[k], seen) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- Error text without the "file:line: " that error() adds, as luassert does.
local function bare(err)
  if type(err) == "string" then return (err:gsub("^.-:%d+: ", "", 1)) end
  return err
end

-- Each check returns whether it holds and what it was about.
local checks = {}
function checks.equal(e, a) return e == a, "expected " .. show(e) .. ", got " .. show(a) end
checks.equals = checks.equal
function checks.same(e, a) return same(e, a), "expected same as " .. show(e) .. ", got " .. show(a) end
checks["true"] = function(v) return v == true, "expected true, got " .. show(v) end
checks["false"] = function(v) return v == false, "expected false, got " .. show(v) end
function checks.truthy(v) return v ~= nil and v ~= false, "expected truthy, got " .. show(v) end
function checks.falsy(v) return v == nil or v == false, "expected falsy, got " .. show(v) end
checks["nil"] = function(v) return v == nil, "expected nil, got " .. show(v) end
function checks.error(fn, expected)
  local ok, err = pcall(fn)
  if ok then return false, "expected an error, got none" end
  if expected ~= nil and bare(err) ~= expected and err ~= expected then
    return false, "expected error " .. show(expected) .. ", got " .. show(err)
  end
  return true, "expected no error, got " .. show(err)
end
checks.errors = checks.error
function checks.error_matches(fn, pattern, init, plain)
  local ok, err = pcall(fn)
  if ok then return false, "expected an error matching " .. show(pattern) .. ", got none" end
  local s = tostring(err)
  return s:find(pattern, init, plain) ~= nil,
    "expected an error matching " .. show(pattern) .. ", got " .. show(s)
end
function checks.matches(pattern, s, init, plain)
  return type(s) == "string" and s:find(pattern, init, plain) ~= nil,
    "expected a match for " .. show(pattern) .. ", got " .. show(s)
end
checks.match = checks.matches
function checks.near(e, a, tol)
  return type(a) == "number" and math.abs(e - a) <= tol,
    "expected " .. show(e) .. " +/- " .. tostring(tol) .. ", got " .. show(a)
end

-- Raise a failure located at the spec line that asserted (3 levels up:
-- fail, the assertion function, the spec).
local function fail(what)
  local info = debug.getinfo(3, "Sl")
  local where = info and info.currentline > 0 and (info.short_src .. ":" .. info.currentline .. ": ") or ""
  error(setmetatable({msg = where .. what}, fail_mt), 3)
end

local noise = {is = true, are = true, has = true, was = true, does = true, to = true, be = true}
local negate = {["not"] = true, no = true}

local chain_mt = {}
local function chain(neg) return setmetatable({neg = neg}, chain_mt) end

-- assert.is_not_nil, assert.has_no.errors, assert.are.same ...
chain_mt.__index = function(c, key)
  local neg, words = c.neg, {}
  for w in key:gmatch("[^_]+") do words[#words + 1] = w end
  local i = 1
  while words[i] and (noise[words[i]] or negate[words[i]]) do
    if negate[words[i]] then neg = not neg end
    i = i + 1
  end
  if not words[i] then return chain(neg) end
  local name = table.concat(words, "_", i)
  local check = checks[name]
  if not check then error("mini_busted: no assertion '" .. key .. "'", 2) end
  return function(...)
    local ok, what = check(...)
    if (ok and true or false) == neg then fail((neg and "not: " or "") .. what) end
  end
end
chain_mt.__call = function(_, v, msg, ...)
  if not v then fail(tostring(msg or "assertion failed!")) end
  return v, msg, ...
end

M.assert = chain(false)

local function is_fail(e) return getmetatable(e) == fail_mt end

-- Errors other than failed assertions keep their traceback.
local function with_traceback(e)
  if is_fail(e) then return e end
  return debug.traceback(tostring(e), 2)
end

local function say(fmt, ...) print(string.format(fmt, ...)) end

local function comment(text)
  for line in (tostring(text) .. "\n"):gmatch("(.-)\r?\n") do print("#   " .. line) end
end

-- Let the event loop turn between tests (timers, the watchdog feed).
local function breathe()
  local ok, task = pcall(require, "task")
  if ok and task.current and task.current() then task.yield() end
end

function M.run(source, chunkname)
  chunkname = chunkname or "=spec"
  local root = {before = {}, after = {}, setup = {}, teardown = {}}
  local current, tests = root, {}
  local env = setmetatable({}, {__index = _G})
  local function full(name)
    local parts, b = {name}, current
    while b ~= root do table.insert(parts, 1, b.name); b = b.parent end
    return table.concat(parts, " ")
  end
  function env.describe(name, fn)
    local b = {name = name, parent = current, before = {}, after = {}, setup = {}, teardown = {}}
    local saved = current
    current = b
    local ok, err = xpcall(fn, with_traceback)
    current = saved
    if not ok then tests[#tests + 1] = {name = full(name) .. " (describe)", err = err} end
  end
  function env.it(name, fn)
    tests[#tests + 1] = {name = full(name), fn = fn, block = current, pending = fn == nil}
  end
  function env.pending(name) tests[#tests + 1] = {name = full(name), block = current, pending = true} end
  function env.before_each(fn) table.insert(current.before, fn) end
  function env.after_each(fn) table.insert(current.after, fn) end
  local function setup(fn) table.insert(current.setup, fn) end
  local function teardown(fn) table.insert(current.teardown, fn) end
  env.setup, env.lazy_setup, env.strict_setup = setup, setup, setup
  env.teardown, env.lazy_teardown, env.strict_teardown = teardown, teardown, teardown
  env.assert = M.assert

  say("# %s", (chunkname:gsub("^[@=]", "")))
  local chunk, cerr = load(source, chunkname, "t", env)
  if chunk then
    local ok, e = xpcall(chunk, with_traceback)
    if not ok then tests[#tests + 1] = {name = "loading " .. chunkname, err = e} end
  else
    tests[#tests + 1] = {name = "compiling " .. chunkname, err = cerr}
  end

  -- Each block's last test (its own or a nested block's): its teardown
  -- runs after that one.
  for n, t in ipairs(tests) do
    local b = t.block
    while b do b.last = n; b = b.parent end
  end
  local function blocks_of(t)
    local c, b = {}, t.block
    while b do table.insert(c, 1, b); b = b.parent end
    return c
  end
  -- setup of each enclosing block not set up yet, outermost first; a
  -- failed one fails every test of its block
  local function set_up(c)
    for _, blk in ipairs(c) do
      if not blk.set_up then
        blk.set_up = true
        for _, f in ipairs(blk.setup) do
          if not blk.setup_err then
            local ok, e = xpcall(f, with_traceback)
            if not ok then blk.setup_err = e end
          end
        end
      end
      if blk.setup_err then return blk.setup_err end
    end
  end
  local function tear_down(c, n)
    local err
    for i = #c, 1, -1 do
      local blk = c[i]
      if blk.last == n and blk.set_up then
        for _, f in ipairs(blk.teardown) do
          local ok, e = xpcall(f, with_traceback)
          if not ok and not err then err = e end
        end
      end
    end
    return err
  end

  local passed, failed, errors, pend = 0, 0, 0, 0
  for n, t in ipairs(tests) do
    local err = t.err
    local c = t.block and blocks_of(t)
    if not err and not t.pending and c then err = set_up(c) end
    if not err and t.pending then
      pend = pend + 1
      say("ok %d - %s # SKIP pending", n, t.name)
      local e = c and tear_down(c, n) -- a pending test may be its block's last
      if e then
        errors = errors + 1
        comment("error in teardown: " .. tostring(e))
      end
    else
      if not err then
        -- before_each outermost first, the test, after_each innermost first
        local chain_ = c
        local ok, e = true, nil
        for _, blk in ipairs(chain_) do
          for _, f in ipairs(blk.before) do
            if ok then ok, e = xpcall(f, with_traceback) end
          end
        end
        if ok then ok, e = xpcall(t.fn, with_traceback) end
        for i = #chain_, 1, -1 do
          for _, f in ipairs(chain_[i].after) do
            local ok2, e2 = xpcall(f, with_traceback)
            if ok and not ok2 then ok, e = false, e2 end
          end
        end
        err = not ok and e or nil
      end
      if c then
        local e = tear_down(c, n)
        if err == nil then err = e end
      end
      if err == nil then
        passed = passed + 1
        say("ok %d - %s", n, t.name)
      else
        if is_fail(err) then failed = failed + 1 else errors = errors + 1 end
        say("not ok %d - %s", n, t.name)
        comment(is_fail(err) and ("failure: " .. err.msg) or ("error: " .. tostring(err)))
      end
    end
    breathe()
  end
  say("1..%d", #tests)
  say("# mini_busted: %d passed, %d failed, %d errors, %d pending", passed, failed, errors, pend)
  return passed, failed, errors, pend
end

return M
