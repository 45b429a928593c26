-- luaos.test_runner: glue between `luaos test` and Busted (host only).
--
-- install(output) routes log output into a per-test buffer; the module is
-- also a Busted output handler (`-o luaos.test_runner`) that wraps the
-- chosen one (`output`, or Busted's default) and appends the buffer to
-- the report of a failing test. Passing tests' lines are dropped.
local M = {}

local MAX_LINES = 500 -- a test that logs in a loop keeps only its last lines
local lines = {}      -- log lines since the last test ended (a ring)
local first, last = 1, 0 -- indexes of the oldest and newest kept lines
local dropped = 0
local user_sink       -- a sink the spec installed itself (it wins)
local inner_output    -- the output handler the user asked for

local function capture(level, tag, msg)
  if user_sink then return user_sink(level, tag, msg) end
  local ms = math.floor(sys.uptime())
  if last - first + 1 >= MAX_LINES then
    lines[first] = nil
    first = first + 1
    dropped = dropped + 1
  end
  last = last + 1
  lines[last] = string.format("[%6d.%03d] %s %s%s", ms // 1000, ms % 1000,
    level:sub(1, 1):upper(), tag and (tag .. ": ") or "", msg)
end

function M.install(output)
  inner_output = output
  local log = require("log")
  local set_sink = log.sink
  -- A spec may still install its own sink (and remove it with nil): it
  -- gets the lines while it is set, as without capture.
  log.sink = function(fn)
    if fn ~= nil and type(fn) ~= "function" then
      error("bad argument #1 to 'log.sink' (function expected, got " .. type(fn)
        .. "; pass the function itself, not the result of calling it)", 2)
    end
    user_sink = fn
  end
  set_sink(capture)
end

local function reset()
  lines, first, last, dropped = {}, 1, 0, 0
end

local function taken()
  local out = table.concat(lines, "\n", first, last)
  local n, d = last - first + 1, dropped
  reset()
  if d > 0 then out = "(" .. d .. " earlier lines dropped)\n" .. out end
  return out, n + d
end

local function with_log(message)
  if last < first then return message end
  if message == nil then
    message = "Nil error"
  elseif type(message) ~= "string" then
    message = require("pl.pretty").write(message)
  end
  local text, n = taken()
  return message .. "\n\nlog output of this test (" .. n .. " line" ..
    (n == 1 and "" or "s") .. "):\n" .. text
end

-- The test that was running when a task's error (or a deadlock) ended the
-- file is never reported by Busted: print what it logged.
function M.dump_pending()
  if last >= first then
    io.stderr:write("log output of the test that was running:\n", (taken()), "\n")
  end
end

local function load_handler(name)
  if name:match("%.lua$") then return dofile(name) end
  local ok, h = pcall(require, "busted.outputHandlers." .. name)
  if ok then return h end
  return require(name)
end

setmetatable(M, {__call = function(_, options)
  local busted = require("busted")
  local handler = load_handler(inner_output or options.defaultOutput)(options)
  local failure, err = handler.baseTestFailure, handler.baseTestError
  handler.baseTestFailure = function(element, parent, message, debug)
    return failure(element, parent, with_log(message), debug)
  end
  handler.baseTestError = function(element, parent, message, debug)
    return err(element, parent, with_log(message), debug)
  end
  -- Runs after the handlers (default priority = last): a new test starts
  -- with an empty buffer.
  busted.subscribe({"test", "end"}, function()
    reset()
    return nil, true
  end)
  -- Busted then calls os.exit: the report is out before anything the
  -- process does while it exits (the stock handlers never flush it).
  busted.subscribe({"exit"}, function()
    io.stdout:flush()
    return nil, true
  end)
  return handler
end})

return M
