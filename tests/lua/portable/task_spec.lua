-- Scheduler and task API. Portable: runs in the simulator (Busted) and on
-- boards (the bundled mini runner), so it sticks to the common subset.
describe("task", function()
  it("spawn runs the function with its arguments as a new task", function()
    local got
    local t = task.spawn(function(a, b) got = a + b end, 2, 3)
    assert.are.equal("ready", t:status())
    task.sleep(1)
    assert.are.equal(5, got)
    assert.are.equal("dead", t:status())
  end)

  it("sleep advances uptime by at least the requested time", function()
    local t0 = sys.uptime()
    task.sleep(20)
    assert.is_true(sys.uptime() - t0 >= 20)
  end)

  it("sleeping tasks wake in deadline order", function()
    local order = {}
    for _, ms in ipairs({30, 10, 20}) do
      task.spawn(function() task.sleep(ms); order[#order + 1] = ms end)
    end
    task.sleep(50)
    assert.are.same({10, 20, 30}, order)
  end)

  it("yield lets other ready tasks run", function()
    local log = {}
    task.spawn(function() for i = 1, 3 do log[#log + 1] = "a" .. i; task.yield() end end)
    task.spawn(function() for i = 1, 3 do log[#log + 1] = "b" .. i; task.yield() end end)
    task.sleep(1)
    assert.are.same({"a1", "b1", "a2", "b2", "a3", "b3"}, log)
  end)

  it("wait returns the signalled values", function()
    local got
    task.spawn(function() got = {task.wait("ev")} end)
    task.yield()
    assert.are.equal(1, task.signal("ev", 1, "two"))
    task.sleep(1)
    assert.are.same({1, "two"}, got)
  end)

  it("wait without values returns true; timeouts return nil, 'timeout'", function()
    local r1, r2
    task.spawn(function() r1 = task.wait("e1") end)
    task.yield()
    task.signal("e1")
    local v, err = task.wait("never", 15)
    r2 = err
    assert.is_true(r1)
    assert.is_nil(v)
    assert.are.equal("timeout", r2)
  end)

  it("signal wakes every waiter and counts them", function()
    local n = 0
    for _ = 1, 4 do task.spawn(function() task.wait("all"); n = n + 1 end) end
    task.yield()
    assert.are.equal(4, task.signal("all"))
    task.sleep(1)
    assert.are.equal(4, n)
    assert.are.equal(0, task.signal("all"))
  end)

  it("a timed-out waiter is not woken later", function()
    local woke = 0
    task.spawn(function() task.wait("late", 5); woke = woke + 1 end)
    task.sleep(10)
    assert.are.equal(0, task.signal("late"))
    assert.are.equal(1, woke)
  end)

  it("join returns the results of a finished task", function()
    local t = task.spawn(function(x) task.sleep(5); return x * 2, "ok" end, 21)
    local ok, a, b = t:join()
    assert.is_true(ok)
    assert.are.equal(42, a)
    assert.are.equal("ok", b)
    -- joining again gives the same answer
    local ok2, a2 = t:join()
    assert.is_true(ok2)
    assert.are.equal(42, a2)
  end)

  it("join with a timeout gives up", function()
    local t = task.spawn(function() task.sleep(1000) end)
    local ok, err = t:join(10)
    assert.is_nil(ok)
    assert.are.equal("timeout", err)
    t:cancel()
  end)

  it("cancel stops a sleeping task and wakes joiners", function()
    local ran = false
    local t = task.spawn(function() task.sleep(100); ran = true end)
    task.yield()
    local res
    task.spawn(function() res = {t:join()} end)
    task.yield()
    t:cancel()
    task.sleep(200)
    assert.is_false(ran)
    assert.are.equal("dead", t:status())
    assert.is_nil(res[1])
    assert.are.equal("cancelled", res[2])
  end)

  it("current returns the running task", function()
    local me
    local t = task.spawn(function() me = task.current() end)
    task.sleep(1)
    assert.are.equal(t, me)
  end)

  it("blocking inside a C callback fails cleanly and leaves the task intact", function()
    local t = {3, 1, 2}
    local ok, err = pcall(table.sort, t, function(a, b) task.yield(); return a < b end)
    assert.is_false(ok)
    assert.truthy(err:find("C callback", 1, true))
    ok = pcall(string.gsub, "ab", ".", function() task.wait("never") end)
    assert.is_false(ok)
    assert.are.equal(0, task.signal("never")) -- not left registered as a waiter
    local t0 = sys.uptime()
    task.sleep(30)
    assert.is_true(sys.uptime() - t0 >= 30)
  end)

  it("blocking calls outside a task raise a clear error", function()
    local co = coroutine.create(function() task.sleep(1) end)
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.truthy(err:find("plain coroutine", 1, true))
  end)
end)

describe("task.channel", function()
  it("passes values in order between tasks", function()
    local ch = task.channel(2)
    task.spawn(function() for i = 1, 5 do ch:send(i) end ch:close() end)
    local got = {}
    while true do
      local v = ch:recv()
      if v == nil then break end
      got[#got + 1] = v
    end
    assert.are.same({1, 2, 3, 4, 5}, got)
  end)

  it("send blocks while full; recv blocks while empty", function()
    local ch = task.channel(1)
    local sent = 0
    task.spawn(function() for i = 1, 3 do ch:send(i); sent = sent + 1 end end)
    task.sleep(1)
    assert.are.equal(1, sent)
    assert.are.equal(1, #ch)
    assert.are.equal(1, ch:recv())
    task.sleep(1)
    assert.are.equal(2, sent)
    local result
    task.spawn(function() result = {ch:send(99)} end)
    task.sleep(1)
    ch:close() -- blocked senders wake up with nil, "closed"
    task.sleep(1)
    assert.are.same({nil, "closed"}, result)
  end)

  it("recv times out and reports closed channels", function()
    local ch = task.channel()
    local v, err = ch:recv(5)
    assert.is_nil(v)
    assert.are.equal("timeout", err)
    ch:close()
    v, err = ch:recv()
    assert.is_nil(v)
    assert.are.equal("closed", err)
    local ok
    ok, err = ch:send(1)
    assert.is_nil(ok)
    assert.are.equal("closed", err)
  end)

  it("a zero timeout never blocks", function()
    local ch = task.channel(1)
    assert.is_true(ch:send("x", 0))
    local ok, err = ch:send("y", 0)
    assert.is_nil(ok)
    assert.are.equal("timeout", err)
  end)
end)
