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
local WINDOWS = 3       -- per size and round
local ROUNDS = 3        -- every size once per round, the rounds one after another

-- Wall time (ns) per wake-up in each of WINDOWS windows with n sleeping
-- tasks, and the process's CPU time per wake-up in each.
local function windows(n)
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
  return r, cpu
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

local function median(t)
  table.sort(t)
  local m = (#t + 1) // 2
  return #t % 2 == 1 and t[m] or (t[m] + t[m + 1]) / 2
end

local function min_of(t) return math.min(table.unpack(t)) end
local function max_of(t) return math.max(table.unpack(t)) end

-- The host's speed drifts (other processes, a shared VM's neighbours):
-- sizes are measured in rounds, each round every size once, and a size's
-- ratio is the median over rounds of its cost against the first size's
-- cost in the same round.
switch_cost() -- warm up
local base = {}
local all, cpus, round_cost = {}, {}, {}
for i = 1, #sizes do all[i], cpus[i], round_cost[i] = {}, {}, {} end
for round = 1, ROUNDS do
  base[round] = switch_cost()
  for i, n in ipairs(sizes) do
    local r, cpu = windows(n)
    for _, v in ipairs(r) do all[i][#all[i] + 1] = v end
    for _, v in ipairs(cpu) do cpus[i][#cpus[i] + 1] = v end
    round_cost[i][round] = median(r)
  end
end
local sw = median(base)
print(string.format("task switch (task.yield, 2 tasks), baseline: %.1f ns (%d rounds of %d windows per size)",
  sw, ROUNDS, WINDOWS))
for i, n in ipairs(sizes) do
  local ratios = {}
  for round = 1, ROUNDS do ratios[round] = round_cost[i][round] / round_cost[1][round] end
  local lo, hi = min_of(ratios), max_of(ratios)
  local cost = median(all[i])
  print(string.format("%7d sleeping tasks: %7.1f ns per wake-up  %.2fx a task switch  %.2fx the %d-task one"
    .. " (rounds %.2f-%.2f)  (lowest window %.1f ns, CPU %.1f ns)",
    n, cost, cost / sw, median(ratios), sizes[1], lo, hi, min_of(all[i]), median(cpus[i])))
end
