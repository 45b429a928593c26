-- Core benchmarks, each a ratio against a baseline measured in the same
-- run. Run with tools/bench (which also measures start-up time).
--   luaos run bench/core.lua            (real time: call costs, task switch)
local bench = require("bench")
local now = bench.now_ns

-- Median of several timed runs of f(n), in ns per iteration.
local function measure(f, n)
  local runs = {}
  for r = 1, 7 do
    local t0 = now()
    f(n)
    runs[r] = (now() - t0) / n
  end
  table.sort(runs)
  return runs[4]
end

local results = {}
local function report(name, value, baseline, unit, target)
  local ratio = baseline and value / baseline
  results[#results + 1] = {name, value, baseline, ratio, unit, target}
  print(string.format("%-44s %10.2f %-6s baseline %10.2f  ratio %.2fx  (target %s)",
    name, value, unit, baseline or 0, ratio or 0, target or "-"))
end

-- 1. gpio.write vs an empty C function, called the same way (local upvalue).
do
  gpio.mode(0, "out")
  local write, nop = gpio.write, bench.nop
  local n = 5000000
  local base = measure(function(k) for i = 1, k do nop(0, i & 1) end end, n)
  local w = measure(function(k) for i = 1, k do write(0, i & 1) end end, n)
  report("gpio.write(pin, level) vs empty C function", w, base, "ns", "<= 1.5x")
end

-- 2. Task switch through the scheduler vs bare coroutine resume/yield.
do
  local n = 1000000
  local base = measure(function(k)
    local co = coroutine.wrap(function() while true do coroutine.yield() end end)
    for _ = 1, k do co() end
  end, n)
  -- Two tasks ping-pong: each task.yield is one yield plus one resume by the
  -- scheduler, the same work as one resume+yield pair above.
  local sw = measure(function(k)
    local half = k // 2
    local a = task.spawn(function() for _ = 1, half do task.yield() end end)
    local b = task.spawn(function() for _ = 1, half do task.yield() end end)
    a:join()
    b:join()
  end, n)
  report("task switch (task.yield) vs coroutine resume+yield", sw, base, "ns", "<= 1.5x")
end

-- 3. Memory: heap after boot, and what each module costs when loaded.
do
  collectgarbage()
  collectgarbage()
  local m0 = sys.memory().used
  report("Lua heap in use (app started, nothing required)", m0, nil, "bytes")
  for _, name in ipairs({"gpio", "spi", "task", "timer", "log", "sys", "bme280", "lis3dh"}) do
    collectgarbage()
    local before = sys.memory().used
    if not package.loaded[name] then
      require(name)
      collectgarbage()
      report("  + require('" .. name .. "')", sys.memory().used - before, nil, "bytes")
    else
      report("  + require('" .. name .. "') (already loaded by this script)", 0, nil, "bytes")
    end
  end
end

return results
