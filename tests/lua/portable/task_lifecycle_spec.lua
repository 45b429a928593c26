-- Task life cycle: every state change is checked; illegal ones are refused
-- with a clear error, and ending a task (any way) closes its coroutine.
local function closer(log, name)
  return setmetatable({}, {__close = function() log[#log + 1] = name end})
end

describe("task life cycle", function()
  it("a task cannot be cancelled while it runs, not even from a coroutine inside it", function()
    local t, ok, err
    t = task.spawn(function()
      ok, err = pcall(coroutine.wrap(function() t:cancel() end))
      task.sleep(1)
      return "still fine"
    end)
    local jok, v = t:join()
    assert.is_false(ok)
    assert.truthy(err:find("a task cannot cancel itself", 1, true))
    assert.is_true(jok)
    assert.are.equal("still fine", v)
    assert.are.equal("dead", t:status())
  end)

  it("cancelling a sleeping task runs its pending <close> variables", function()
    local log = {}
    local t = task.spawn(function()
      local _a <close> = closer(log, "outer") -- luacheck: ignore
      do
        local _b <close> = closer(log, "inner") -- luacheck: ignore
        task.sleep(1000)
      end
    end)
    task.sleep(1)
    t:cancel()
    assert.are.same({"inner", "outer"}, log)
    assert.are.equal("dead", t:status())
    local ok, err = t:join()
    assert.is_nil(ok)
    assert.are.equal("cancelled", err)
  end)

  it("a failing __close during cancel is raised to the canceller; the task still ends", function()
    local t = task.spawn(function()
      local _a <close> = setmetatable({}, {__close = function() error("close boom") end}) -- luacheck: ignore
      task.sleep(1000)
    end)
    task.sleep(1)
    local ok, err = pcall(t.cancel, t)
    assert.is_false(ok)
    assert.truthy(err:find("close boom", 1, true))
    assert.are.equal("dead", t:status())
    t:cancel() -- cancelling a dead task does nothing
  end)

  it("a task's own coroutine cannot be resumed or closed by other code", function()
    local co
    local t = task.spawn(function() co = coroutine.running(); task.sleep(1000); return 1 end)
    task.sleep(1)
    local ok, err = pcall(coroutine.resume, co)
    assert.is_false(ok)
    assert.truthy(err:find("is task " .. t:id(), 1, true))
    ok, err = pcall(coroutine.close, co)
    assert.is_false(ok)
    assert.truthy(err:find("t:cancel()", 1, true))
    assert.are.equal("sleeping", t:status())
    t:cancel()
    -- plain coroutines are unaffected
    local c = coroutine.create(function(x) return x + 1 end)
    assert.are.same({true, 2}, {coroutine.resume(c, 1)})
    assert.is_true(coroutine.close(c))
  end)

  it("finalizers that cancel or join a task while it ends do no harm", function()
    local t
    local seen = 0
    local function bomb()
      return setmetatable({}, {__gc = function()
        seen = seen + 1
        pcall(t.cancel, t)
        pcall(t.join, t)
      end})
    end
    local before = task.count()
    t = task.spawn(function()
      for _ = 1, 200 do bomb() end
      local r = {}
      for i = 1, 2000 do r[i] = i end
      return table.unpack(r)
    end)
    collectgarbage("incremental", 50, 1000) -- aggressive: collect while ending
    for _ = 1, 20 do
      task.yield()
      collectgarbage("step", 0)
    end
    collectgarbage()
    collectgarbage("incremental", 150, 100)
    local r = table.pack(t:join())
    assert.is_true(r[1])
    assert.are.equal(2001, r.n)
    assert.are.equal(before, task.count())
    assert.is_true(seen > 0)
  end)

  it("a woken receiver that is cancelled before it runs passes the value on", function()
    local ch = task.channel(1)
    local got = {}
    local r1 = task.spawn(function() got[#got + 1] = "r1:" .. tostring(ch:recv()) end)
    task.spawn(function() got[#got + 1] = "r2:" .. tostring(ch:recv()) end)
    task.yield()
    ch:send("x") -- wakes r1 only
    r1:cancel()
    task.sleep(1)
    assert.are.same({"r2:x"}, got)
  end)

  it("a debug hook set in a task survives its yields", function()
    local lines = 0
    local t = task.spawn(function()
      debug.sethook(function() lines = lines + 1 end, "l")
      task.sleep(1)
      local still = debug.gethook() ~= nil
      debug.sethook()
      return still
    end)
    local ok, still = t:join()
    assert.is_true(ok)
    assert.is_true(still)
    assert.is_true(lines > 0)
  end)

  it("spawn with a non-function says what to write", function()
    local function blink() return nil end
    local ok, err = pcall(task.spawn, blink())
    assert.is_false(ok)
    assert.truthy(err:find("bad argument #1 to 'task.spawn' (function expected, got nil; " ..
      "pass the function itself: task.spawn(f), not task.spawn(f()))", 1, true), err)
  end)

  it("task.budget stops a task that never yields, naming it and the line", function()
    local prev = task.budget(200000)
    local msg
    local t = task.spawn(function()
      local ok, err = pcall(function() while true do end end)
      msg = (not ok) and err
    end)
    t:join()
    assert.are.equal(200000, task.budget(prev))
    assert.truthy(msg:find("^task " .. t:id() .. " %(.-task_lifecycle_spec%.lua:%d+%): " ..
      "exceeded its instruction budget of 200000 without yielding"), msg)
    -- a busy loop inside a plain coroutine within the task is counted too
    task.budget(200000)
    t = task.spawn(function()
      local ok, err = pcall(coroutine.wrap(function() while true do end end))
      msg = (not ok) and err
    end)
    t:join()
    task.budget(prev)
    assert.truthy(msg:find("exceeded its instruction budget of 200000", 1, true), msg)
    -- work spread over many short coroutines, none of which runs 200000
    -- instructions itself, is counted as one (the count travels with control)
    task.budget(200000)
    local leaves = 0
    local function tree(depth)
      if depth == 0 then
        for _ = 1, 100 do leaves = leaves + 0 end
        leaves = leaves + 1
        return
      end
      coroutine.wrap(tree)(depth - 1)
      coroutine.wrap(tree)(depth - 1)
    end
    msg = nil
    t = task.spawn(function()
      local ok, err = pcall(tree, 17) -- 131072 leaves: far more than the budget
      msg = (not ok) and err
    end)
    t:join()
    task.budget(prev)
    assert.truthy(msg and msg:find("exceeded its instruction budget of 200000", 1, true), msg)
    assert.is_true(leaves < 2 ^ 17)
    local ok = pcall(task.budget, 5)
    assert.is_false(ok)
  end)
end)
