-- Channel throughput: a producer task and a consumer task passing n values
-- through task.channel(cap), against the same hand-off done with a bare
-- coroutine and a table (what stock Lua 5.4 offers), timed alternately in
-- the same run. ns per value handed over.
--   luaos run bench/channels.lua --task-budget 0 [-- N]
-- Under stock `lua5.4 bench/channels.lua [N]` it times the baseline alone,
-- to check that the in-process baseline is what stock Lua does.
local has_bench, bench = pcall(require, "bench")
local now = has_bench and bench.now_ns or function() return os.clock() * 1e9 end

-- Baseline: the producer is a coroutine that puts each value in a table
-- slot and yields; the consumer resumes it and takes the value.
local function baseline(n)
  local slot = {}
  local producer = coroutine.wrap(function()
    for i = 1, n do
      slot[1] = i
      coroutine.yield()
    end
  end)
  local sum = 0
  for _ = 1, n do
    producer()
    sum = sum + slot[1]
    slot[1] = nil
  end
  return sum
end

local function channel(cap)
  return function(n)
    local ch = task.channel(cap)
    local sum = 0
    local p = task.spawn(function()
      for i = 1, n do ch:send(i) end
      ch:close()
    end)
    local c = task.spawn(function()
      while true do
        local v = ch:recv()
        if v == nil then break end
        sum = sum + v
      end
    end)
    p:join()
    c:join()
    assert(sum == n * (n + 1) // 2)
    return sum
  end
end

local function timed(f, n)
  local t0 = now()
  f(n)
  return (now() - t0) / n
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

-- 9 alternating pairs; medians of each side and of the per-pair ratios.
local function compare(f, n)
  local bs, vs, rs = {}, {}, {}
  timed(baseline, n // 10)
  timed(f, n // 10)
  for r = 1, 9 do
    bs[r] = timed(baseline, n)
    vs[r] = timed(f, n)
    rs[r] = vs[r] / bs[r]
  end
  return median(vs), median(bs), median(rs)
end

local n = tonumber(arg and arg[1]) or 200000
if not has_bench then -- stock Lua: no tasks
  local bs = {}
  for r = 1, 9 do bs[r] = timed(baseline, n) end
  print(string.format("%-52s %9.2f ns", "baseline (coroutine + table), per value", median(bs)))
  return
end
for _, cap in ipairs({1, 64}) do
  local v, b, r = compare(channel(cap), n)
  print(string.format("%-52s %9.2f ns  baseline %9.2f ns  ratio %.2fx  (target <= 2x)",
    ("channel ping-pong, capacity %d, per value"):format(cap), v, b, r))
end
