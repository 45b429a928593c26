-- The steady state of bench/timers.lua for instruction and cache-miss
-- counts: N tasks sleeping ~1 s in a loop until about W wake-ups have
-- happened; prints the number of wake-ups on stderr. Counting two runs
-- (W and 3W) and subtracting leaves the cost of the extra wake-ups alone.
--   valgrind --tool=callgrind luaos run bench/timers_steady.lua --virtual-time -- N W
-- (tools/bench --timer-callgrind does this for N = 100 .. 100 000.)
local n = math.tointeger(tonumber((...))) or 1000
local w = tonumber((select(2, ...))) or 50000
local sleep = task.sleep
local count, stop = 0, false
for i = 1, n do
  local period = 1000 + (i * 7919) % 1000 * 0.1
  task.spawn(function()
    while not stop do sleep(period); count = count + 1 end
  end)
end
task.sleep(w / n * 1050 + 1200)
io.stderr:write(count, "\n")
os.exit(0)
