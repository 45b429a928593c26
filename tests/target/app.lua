-- An app image: bundled as module "main", it runs at boot; the REPL opens
-- when no task is left. Checked by tests/target/app-test.
--
-- First, before anything opens the string library: Lua 5.4 converts
-- strings in arithmetic through the string metatable, and lazily opened
-- libraries must not change that.
local ok, v = pcall(function() return "10" + 1 end)
print("app: \"10\" + 1 = " .. tostring(v) .. (ok and "" or " (error)"))
print("app: started on " .. sys.board())
gpio.mode("LED0", "out")
local t = task.spawn(function()
  for _ = 1, 4 do gpio.toggle("LED0"); task.sleep(50) end
  return "blinked"
end)
print("app: " .. select(2, t:join()))
-- The "strict mode" idiom: the app's own metatable on _G must not lose the
-- libraries that are opened on first use (utf8, coroutine, debug, math).
local saved = getmetatable(_G)
local strict = {__index = function(_, k) error("undeclared global " .. tostring(k), 2) end}
ok, v = pcall(function()
  setmetatable(_G, strict)
  return utf8.char(72) .. coroutine.status(coroutine.create(print)) .. math.floor(2.5)
    .. type(debug.traceback)
end)
if not ok then v = "error: " .. tostring(v) end
setmetatable(_G, saved)
print("app: strict _G: " .. tostring(v))
-- A task that never yields is stopped by the instruction budget, with the
-- task, file and line; the app and the board go on.
if require("mps2").budget() then
  local runaway = task.spawn(function()
    while true do end -- the budget stops this line
  end)
  print("app: runaway: " .. tostring(select(2, runaway:join())))
else
  print("app: no instruction budget in this scheduler")
end
-- Ctrl-C on the console interrupts the app: its task ends with
-- "interrupted" (file and line), and with no task left the REPL opens.
print("app: waiting for Ctrl-C")
while true do task.sleep(100) end
