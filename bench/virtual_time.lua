-- One hour of device time with 100 tasks that each wake every 1..1.1 s.
--   luaos run bench/virtual_time.lua --virtual-time
local bench = require("bench")
local t0 = bench.now_ns()
local start = sys.uptime()
local wakeups = 0
for i = 1, 100 do
  task.spawn(function()
    while sys.uptime() - start < 3600000 do
      task.sleep(1000 + i)
      wakeups = wakeups + 1
    end
  end)
end
task.sleep(3600000 + 1200)
local wall = (bench.now_ns() - t0) / 1e9
print(string.format("virtual time: %d ms of device time, %d task wake-ups, %.3f s wall (target < 0.5 s)",
  sys.uptime() - start, wakeups, wall))
