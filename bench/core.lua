-- Core benchmarks, each a ratio against a baseline measured in the same
-- run. Run with tools/bench (which also measures start-up time).
--   luaos run bench/core.lua            (real time: call costs, task switch)
local bench = require("bench")
local now = bench.now_ns

-- ns per iteration of f(n), one timed run.
local function timed(f, n)
  local t0 = now()
  f(n)
  return (now() - t0) / n
end

-- Baseline and candidate measured in alternation, 9 pairs; the medians of
-- each and the median of the per-pair ratios (robust to a busy machine).
local function compare(base_f, f, n)
  local bs, vs, rs = {}, {}, {}
  timed(base_f, n // 10) -- warm up
  timed(f, n // 10)
  for r = 1, 9 do
    bs[r] = timed(base_f, n)
    vs[r] = timed(f, n)
    rs[r] = vs[r] / bs[r]
  end
  table.sort(bs); table.sort(vs); table.sort(rs)
  return vs[5], bs[5], rs[5]
end

local results = {}
local function report(name, value, baseline, unit, target, ratio)
  ratio = ratio or (baseline and value / baseline)
  results[#results + 1] = {name, value, baseline, ratio, unit, target}
  if baseline then
    print(string.format("%-52s %9.2f %s  baseline %9.2f %s  ratio %.2fx  (target %s)",
      name, value, unit, baseline, unit, ratio, target or "-"))
  else
    print(string.format("%-52s %9d %s", name, value, unit))
  end
end

-- 1. Memory first, before anything else is loaded: the heap after boot
-- (only `sys`, `bench` and this script loaded), then each module's cost.
do
  collectgarbage()
  collectgarbage()
  local m0 = sys.memory().used
  report("Lua heap in use at app start (sys, bench loaded)", m0, nil, "bytes")
  for _, name in ipairs({"gpio", "spi", "task", "timer", "log", "bme280", "lis3dh"}) do
    collectgarbage()
    local before = sys.memory().used
    require(name)
    collectgarbage()
    report("  + require('" .. name .. "')", sys.memory().used - before, nil, "bytes")
  end
end

-- 2. gpio.write vs an empty C function, called the same way (local upvalue).
do
  gpio.mode(0, "out")
  local write, nop = gpio.write, bench.nop
  local n = 2000000
  local w, base, ratio = compare(function(k) for i = 1, k do nop(0, i & 1) end end,
                                 function(k) for i = 1, k do write(0, i & 1) end end, n)
  report("gpio.write(pin, level) vs empty C function", w, base, "ns", "<= 1.5x", ratio)
end

-- 3. Task switch through the scheduler vs bare coroutine resume/yield.
do
  local n = 500000
  local sw, base, ratio = compare(function(k)
    local co = coroutine.wrap(function() while true do coroutine.yield() end end)
    for _ = 1, k do co() end
  end, function(k)
    -- Two tasks ping-pong: each task.yield is one yield plus one resume by
    -- the scheduler, the same work as one resume+yield pair above.
    local half = k // 2
    local a = task.spawn(function() for _ = 1, half do task.yield() end end)
    local b = task.spawn(function() for _ = 1, half do task.yield() end end)
    a:join()
    b:join()
  end, n)
  report("task switch (task.yield) vs coroutine resume+yield", sw, base, "ns", "<= 1.5x", ratio)
end

return results
