-- Timers: callbacks run as tasks on the scheduler's clock.
describe("timer", function()
  it("after fires once, after the delay", function()
    local fired_at
    local t0 = sys.uptime()
    local h = timer.after(25, function() fired_at = sys.uptime() end)
    assert.is_true(h:active())
    task.sleep(10)
    assert.is_nil(fired_at)
    task.sleep(30)
    assert.is_true(fired_at - t0 >= 25)
    assert.is_false(h:active())
    assert.are.equal(1, h:count())
  end)

  it("every repeats on schedule until cancelled", function()
    local n = 0
    local h = timer.every(10, function() n = n + 1 end)
    task.sleep(55)
    h:cancel()
    assert.are.equal(5, n)
    task.sleep(50)
    assert.are.equal(5, n)
    assert.is_false(h:active())
  end)

  it("callbacks get the handle and may cancel themselves", function()
    local n = 0
    timer.every(5, function(h) n = n + 1; if n == 3 then h:cancel() end end)
    task.sleep(100)
    assert.are.equal(3, n)
  end)

  it("callbacks may block (they run as tasks)", function()
    local done = false
    timer.after(1, function() task.sleep(10); done = true end)
    task.sleep(20)
    assert.is_true(done)
  end)

  it("cancel before firing prevents the callback", function()
    local fired = false
    local h = timer.after(10, function() fired = true end)
    h:cancel()
    task.sleep(20)
    assert.is_false(fired)
  end)

  it("names functions and methods as the docs do", function()
    local function message(f, ...)
      local ok, err = pcall(f, ...)
      assert.is_false(ok)
      return (tostring(err):gsub("^[^:]*:%d+: ", ""))
    end
    assert.are.equal("bad argument #1 to 'timer.after' (duration must be a non-negative number " ..
                     "of ms)", message(function() timer.after(-1, print) end))
    assert.are.equal("bad argument #1 to 'timer.after' (duration must be a non-negative number " ..
                     "of ms)", message(function() timer.after(0 / 0, print) end))
    assert.are.equal("bad argument #1 to 'timer.every' (period must be > 0 ms)",
                     message(function() timer.every(0, print) end))
    assert.are.equal("bad argument #2 to 'timer.after' (function expected, got string; pass " ..
                     "the function itself, not the result of calling it)",
                     message(function() timer.after(10, "nope") end))
    local function tick() end
    assert.are.equal("bad argument #2 to 'timer.every' (function expected, got no value; pass " ..
                     "the function itself, not the result of calling it)",
                     message(function() timer.every(100, tick()) end))
    assert.are.equal("bad argument #1 to 'timer.every' (number expected, got string)",
                     message(function() timer.every("10", print) end))
    local h = timer.after(10, print)
    h:cancel()
    assert.are.equal("bad argument #1 to 'cancel' (timer expected, got table)",
                     message(function() h.cancel({}) end))
    -- a method call on something else: its type is unknown, so no prefix
    local fake = setmetatable({}, { __index = { count = getmetatable(h).__index.count } })
    assert.are.equal("calling 'count' on bad self (timer expected, got table)",
                     message(function() fake:count() end))
    -- durations are checked the same way by task.sleep
    assert.are.equal("bad argument #1 to 'task.sleep' (duration must be a non-negative number " ..
                     "of ms)", message(function() task.sleep(-5) end))
  end)

  it("rejects bad arguments", function()
    assert.has_error(function() timer.after(-1, function() end) end)
    assert.has_error(function() timer.after(10, "nope") end)
    assert.has_error(function() timer.every(0, function() end) end)
  end)
end)
