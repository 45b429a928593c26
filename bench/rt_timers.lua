-- Real-time timer accuracy: lateness of 1 ms sleeps against the wall clock.
--   luaos run bench/rt_timers.lua [-- COUNT]      (real time, the default)
-- Prints one line: "lateness_us p50 P p99 P max M n N". tools/bench runs it
-- idle, next to CPU hogs, and as 200 simulated devices at once.
local now = require("bench").now_ns
local sleep = task.sleep

local n = math.tointeger(tonumber((...))) or 2000
local late = {}
sleep(1) -- start on a fresh turn of the loop
for i = 1, n do
  local t = now()
  sleep(1)
  late[i] = (now() - t) / 1000 - 1000 -- microseconds after the requested wake-up
end
table.sort(late)
local function pct(p) return late[math.max(1, math.ceil(#late * p))] end
print(string.format("lateness_us p50 %.1f p99 %.1f max %.1f n %d", pct(0.5), pct(0.99), late[#late], n))
