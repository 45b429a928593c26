-- An app image: bundled as module "main", it runs at boot; the REPL opens
-- when no task is left. Checked by tests/target/app-test.
print("app: started on " .. sys.board())
gpio.mode("LED0", "out")
local t = task.spawn(function()
  for _ = 1, 4 do gpio.toggle("LED0"); task.sleep(50) end
  return "blinked"
end)
print("app: " .. select(2, t:join()))
