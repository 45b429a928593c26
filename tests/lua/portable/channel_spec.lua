-- Channels with allocation-free waiting and direct hand-off: order,
-- timeouts, closing and argument checks on every path.
describe("channel hand-off and queues", function()
  it("keeps FIFO order across hand-off and buffering, for several receivers", function()
    local ch = task.channel(2)
    local got = {}
    local rs = {}
    for r = 1, 3 do
      rs[r] = task.spawn(function()
        while true do
          local v = ch:recv()
          if v == nil then return end
          got[#got + 1] = v
        end
      end)
    end
    task.yield()
    for i = 1, 50 do ch:send(i) end
    ch:close()
    for r = 1, 3 do rs[r]:join() end
    table.sort(got)
    assert.are.equal(50, #got)
    for i = 1, 50 do assert.are.equal(i, got[i]) end
  end)

  it("a single receiver sees values in send order", function()
    local ch = task.channel(1)
    local got = {}
    local r = task.spawn(function() for _ = 1, 20 do got[#got + 1] = ch:recv() end end)
    for i = 1, 20 do ch:send(i) end
    r:join()
    for i = 1, 20 do assert.are.equal(i, got[i]) end
  end)

  it("timeouts on blocked send and recv", function()
    local ch = task.channel(1)
    ch:send("a")
    local t0 = sys.uptime()
    local ok, err = ch:send("b", 20)
    assert.is_nil(ok)
    assert.are.equal("timeout", err)
    assert.is_true(sys.uptime() - t0 >= 20)
    assert.are.equal("a", ch:recv(5))
    local v
    v, err = ch:recv(15)
    assert.is_nil(v)
    assert.are.equal("timeout", err)
    -- a value handed over before the timeout arrives as the result
    task.spawn(function() task.sleep(5); ch:send("late") end)
    assert.are.equal("late", ch:recv(50))
  end)

  it("checks its arguments before anything happens", function()
    local ch = task.channel(1)
    local ok, err = pcall(ch.send, ch, nil)
    assert.is_false(ok)
    assert.truthy(err:find("cannot send nil", 1, true))
    ok, err = pcall(ch.send, ch, 1, -5)
    assert.is_false(ok)
    assert.truthy(err:find("bad argument #3", 1, true), err)
    assert.are.equal(0, #ch) -- nothing was sent
    ok, err = pcall(ch.recv, ch, "soon")
    assert.is_false(ok)
    assert.truthy(err:find("bad argument #2", 1, true), err)
    ok, err = pcall(ch.recv, {})
    assert.is_false(ok)
    assert.truthy(err:find("channel expected, got table", 1, true), err)
  end)

  it("a receiver interrupted or cancelled with a handed value gives it back", function()
    local ch = task.channel(1)
    local r1 = task.spawn(function() return ch:recv() end)
    task.yield()
    ch:send("kept") -- handed straight to r1
    r1:cancel()
    assert.are.equal(1, #ch)
    assert.are.equal("kept", ch:recv())
  end)
end)
