-- Argument errors name functions the way the docs do: module functions as
-- 'task.spawn', methods as 't:join' / 'ch:send' / 'lg:info' (docs/task.md,
-- docs/log.md, docs/sys.md), however the function is reached.
describe("argument errors of task, log and sys", function()
  local function msg(f, ...)
    local ok, e = pcall(f, ...)
    assert.is_false(ok)
    return (tostring(e):gsub("^[^:]*:%d+: ", "")) -- drop the position
  end

  it("name task functions and the methods of tasks and channels", function()
    assert.are.equal("bad argument #1 to 'task.spawn' (function expected, got number; "
      .. "pass the function itself: task.spawn(f), not task.spawn(f()))",
      msg(function() task.spawn(5) end))
    assert.are.equal("bad argument #1 to 'task.wait' (value expected)",
      msg(function() task.wait() end))
    assert.are.equal("bad argument #1 to 'task.channel' (capacity must be 1..1000000)",
      msg(function() task.channel(0) end))
    local ch = task.channel(1)
    assert.are.equal("bad argument #1 to 'ch:recv' (number expected, got string)",
      msg(function() ch:recv("soon") end))
    assert.are.equal("bad argument #1 to 'ch:send' (cannot send nil)",
      msg(function() ch:send(nil) end))
    local t = task.spawn(function() end)
    assert.are.equal("bad argument #1 to 't:join' (number expected, got string)",
      msg(function() t:join("x") end))
  end)

  it("name log functions, with the valid levels and the caller's format argument", function()
    assert.are.equal("bad argument #1 to 'log.level' (invalid option 'loud'; "
      .. "valid: debug, info, warn, error, off)", msg(function() log.level("loud") end))
    assert.are.equal("bad argument #1 to 'log.level' (invalid option 'inf'; did you mean 'info'?)",
      msg(function() log.level("inf") end))
    assert.are.equal("bad argument #2 to 'log.info' (number expected, got string)",
      msg(function() log.info("%d", "x") end))
    assert.are.equal("bad argument #2 to 'lg:info' (number expected, got string)",
      msg(function() log.tag("m"):info("%d", "x") end))
    assert.are.equal("bad argument #1 to 'log.sink' (function expected, got number; "
      .. "pass the function itself, not the result of calling it)",
      msg(function() log.sink(5) end))
  end)

  it("name sys functions", function()
    assert.are.equal("bad argument #1 to 'sys.reload' (string expected, got table)",
      msg(function() sys.reload({}) end))
  end)
end)
