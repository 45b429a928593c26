-- testing.app: run an app file from a spec the way `luaos run` does.
--
--   local app = require("testing.app")
--   local t = app.run("examples/blink.lua", {args = {"3"}, ["for"] = 2000})
--   task.sleep(600)            -- virtual time: the app runs meanwhile
--   assert.is_true(sim.led("LED0"))
--   t:cancel()                 -- or t:join()
--
-- run(path, [opts]) loads `path` as a text chunk (never bytecode) and
-- spawns it as a task with the app's arguments as `...` and in the global
-- `arg` (`arg[0]` is the path). opts.args: list of arguments (strings, as
-- on the command line); opts["for"]: cancel the app after that many ms
-- (as `luaos run --for`). Returns the task handle. An error the app does
-- not catch ends the spec file, as it ends `luaos run`.
local M = {}

local valid = {args = true, ["for"] = true}

local function bad(n, msg)
  error("bad argument #" .. n .. " to 'app.run' (" .. msg .. ")", 3)
end

function M.run(path, opts)
  if type(path) ~= "string" then bad(1, "string expected, got " .. type(path)) end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then bad(2, "table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if not valid[k] then bad(2, "unknown option '" .. tostring(k) .. "'; valid: args, for") end
  end
  local args = opts.args or {}
  if type(args) ~= "table" then bad(2, "option 'args' must be a table, got " .. type(args)) end
  local ms = opts["for"]
  if ms ~= nil and (type(ms) ~= "number" or ms ~= ms or ms < 0) then
    bad(2, "option 'for' must be a non-negative number of ms")
  end
  local chunk, err = loadfile(path, "t")
  if not chunk then error(err, 2) end
  local n = args.n or #args
  local a = {[0] = path}
  for i = 1, n do a[i] = args[i] end
  _G.arg = a
  local t = task.spawn(chunk, table.unpack(args, 1, n))
  if ms then
    timer.after(ms, function()
      if t:status() ~= "dead" then t:cancel() end
    end)
  end
  return t
end

return M
