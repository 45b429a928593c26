-- Many sleeping tasks: more timers than the scheduler's prefetch threshold
-- (1024), so the paths for many timers run (the wheel's arrays grow and
-- compact, wake-ups are prefetched; docs/performance.md, "Timers at
-- scale"). Host only: a board has no room for thousands of tasks.
describe("many timers", function()
  it("3000 sleepers wake on time, same-time ones in the order they slept", function()
    local n, woke, off = 3000, {}, 0
    local t0 = sys.uptime()
    for i = 1, n do
      local d = 100 + (i % 7) * 10 -- 7 deadlines, ~430 tasks each
      task.spawn(function()
        task.sleep(d)
        local late = sys.uptime() - t0 - d
        if late < 0 or late >= 1 then off = off + 1 end
        woke[#woke + 1] = i
      end)
    end
    task.sleep(200)
    assert.are.equal(n, #woke)
    assert.are.equal(0, off)
    local last = {}
    for _, i in ipairs(woke) do
      local d = i % 7
      assert.is_true((last[d] or 0) < i)
      last[d] = i
    end
  end)

  it("cancelled sleepers and wait timeouts among them", function()
    local n, fired, timeouts, signalled = 2000, 0, 0, 0
    local ts = {}
    for i = 1, n do
      ts[i] = task.spawn(function()
        task.sleep(50 + i % 13)
        fired = fired + 1
      end)
    end
    for i = 1, 500 do
      task.spawn(function()
        local v, err = task.wait("many-ev" .. (i % 2), 30)
        if err == "timeout" then timeouts = timeouts + 1 elseif v then signalled = signalled + 1 end
      end)
    end
    task.sleep(10)
    for i = 1, n, 2 do ts[i]:cancel() end
    assert.are.equal(250, task.signal("many-ev0", true))
    task.sleep(100)
    assert.are.equal(n // 2, fired)
    assert.are.equal(250, signalled)
    assert.are.equal(250, timeouts)
  end)

  it("a second round of sleepers reuses the first one's memory", function()
    for _ = 1, 2 do
      local n, woke = 1500, 0
      for i = 1, n do
        task.spawn(function()
          task.sleep(20 + i % 5)
          woke = woke + 1
        end)
      end
      task.sleep(40)
      assert.are.equal(n, woke)
      collectgarbage()
    end
  end)
end)
