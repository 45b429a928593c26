-- Values moved in bulk between tasks (Lua stack discipline in the
-- scheduler): thousands of arguments, results and signalled values either
-- arrive intact or raise a clean Lua error. Sim only: the board's heap is
-- too small for 10000-value stacks in several tasks at once.
local N = 10000

local function big(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

describe("task stack discipline", function()
  it("spawn passes thousands of arguments", function()
    local count, last
    task.spawn(function(...) count, last = select("#", ...), select(N, ...) end,
      table.unpack(big(N), 1, N))
    task.sleep(1)
    assert.are.equal(N, count)
    assert.are.equal(N, last)
  end)

  it("a task returning thousands of values can be joined, before and after it ends", function()
    local vals = big(N)
    local t = task.spawn(function() task.sleep(5); return table.unpack(vals, 1, N) end)
    local early = table.pack(t:join())  -- blocks until it ends
    assert.are.equal(N + 1, early.n)
    assert.is_true(early[1])
    assert.are.equal(N, early[N + 1])
    local late = table.pack(t:join())   -- already dead
    assert.are.equal(N + 1, late.n)
    assert.are.equal(1, late[2])
  end)

  it("signal hands thousands of values to several waiters", function()
    local got = {}
    for w = 1, 3 do
      task.spawn(function() got[w] = table.pack(task.wait("bulk")) end)
    end
    task.yield()
    assert.are.equal(3, task.signal("bulk", table.unpack(big(N), 1, N)))
    task.sleep(1)
    for w = 1, 3 do
      assert.are.equal(N, got[w].n)
      assert.are.equal(N, got[w][N])
    end
  end)

  it("a task body yielding thousands of values is just rescheduled", function()
    local done = false
    task.spawn(function()
      coroutine.yield(table.unpack(big(N), 1, N))
      done = true
    end)
    task.sleep(1)
    assert.is_true(done)
  end)
end)
