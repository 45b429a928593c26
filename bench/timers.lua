-- Timers at scale: wall time per task wake-up with N tasks asleep, for
-- N = 100 .. 100 000, against a task switch (task.yield ping-pong)
-- measured in the same run (docs/performance.md, "Timers at scale").
--   luaos run bench/timers.lua --virtual-time [-- N ...]
-- Every task sleeps 1000..1099.9 ms (spread in 0.1 ms steps) in a loop,
-- the realistic case of many devices or sensors each polled about once a
-- second; virtual time makes the run take only the loop's own time.
local bench = require("bench")
local now = bench.now_ns
local sleep = task.sleep

local sizes = {}
for i = 1, select("#", ...) do sizes[i] = math.tointeger(tonumber((select(i, ...)))) end
if #sizes == 0 then sizes = {100, 1000, 10000, 100000} end

local WAKEUPS = 300000 -- per window
local WINDOWS = 5

-- ns per wake-up with n sleeping tasks: wall time (median and lowest of
-- the windows; the lowest is the least disturbed by other processes on a
-- shared machine) and the process's CPU time (median).
local function wakeup_cost(n)
  local count, stop = 0, false
  local tasks = {}
  for i = 1, n do
    local period = 1000 + (i * 7919) % 1000 * 0.1
    tasks[i] = task.spawn(function()
      while not stop do
        sleep(period)
        count = count + 1
      end
    end)
  end
  -- Windows long enough for WAKEUPS wake-ups (n per ~1.05 s of device time).
  local window = math.max(1100, WAKEUPS / n * 1050)
  task.sleep(1200) -- every task has slept once: steady state
  local r, cpu = {}, {}
  for k = 1, WINDOWS do
    local c0, t0, p0 = count, now(), os.clock()
    task.sleep(window)
    r[k] = (now() - t0) / (count - c0)
    cpu[k] = (os.clock() - p0) * 1e9 / (count - c0)
  end
  stop = true
  for i = 1, n do tasks[i]:cancel() end
  collectgarbage()
  table.sort(r)
  table.sort(cpu)
  local mid = (WINDOWS + 1) // 2
  return r[mid], r[1], cpu[mid]
end

local function switch_cost()
  local k = 400000
  local half = k // 2
  local t0 = now()
  local a = task.spawn(function() for _ = 1, half do task.yield() end end)
  local b = task.spawn(function() for _ = 1, half do task.yield() end end)
  a:join()
  b:join()
  return (now() - t0) / k
end

switch_cost() -- warm up
local base = {}
local results, lowest, cpus = {}, {}, {}
for i, n in ipairs(sizes) do
  base[i] = switch_cost()
  results[i], lowest[i], cpus[i] = wakeup_cost(n)
end
table.sort(base)
local sw = base[(#base + 1) // 2]
print(string.format("task switch (task.yield, 2 tasks), baseline: %.1f ns", sw))
for i, n in ipairs(sizes) do
  print(string.format("%7d sleeping tasks: %7.1f ns per wake-up  %.2fx a task switch  %.2fx the %d-task one"
    .. "  (lowest window %.1f ns, CPU %.1f ns)",
    n, results[i], results[i] / sw, results[i] / results[1], sizes[1], lowest[i], cpus[i]))
end
