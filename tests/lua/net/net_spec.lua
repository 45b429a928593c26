-- The net module without an outside interface (luaos test: --net none):
-- loopback, literals, argument checks, events and their keep-alive.
local net = require("net")

describe("net without an interface", function()
  it("reports no interface and is not up", function()
    local s = net.status()
    assert.is_false(s.up)
    assert.is_false(s.link)
    assert.is_nil(s.ip)
  end)

  it("wait_up returns at once with the reason", function()
    local ok, err = net.wait_up(50)
    assert.is_nil(ok)
    assert.matches("no network interface", err)
  end)

  it("resolves literals and localhost without DNS", function()
    assert.are.equal("127.0.0.1", net.resolve("localhost"))
    assert.are.equal("192.0.2.7", net.resolve("192.0.2.7"))
  end)

  it("fails a DNS name with a message, never raises", function()
    local addr, err = net.resolve("device-test.example")
    assert.is_nil(addr)
    assert.is_string(err)
    addr, err = net.resolve(string.rep("a", 300))
    assert.is_nil(addr)
    assert.are.equal("host not found", err)
    addr, err = net.resolve("")
    assert.is_nil(addr)
    assert.are.equal("host not found", err)
  end)

  it("pings its own loopback", function()
    local r = assert(net.ping("127.0.0.1", {count = 3, timeout = 200}))
    assert.are.equal("127.0.0.1", r.host)
    assert.are.equal(3, r.sent)
    assert.are.equal(3, r.received)
    assert.are.equal(3, #r.times)
    assert.is_true(r.min <= r.avg and r.avg <= r.max)
  end)

  it("several tasks ping at once", function()
    local ts = {}
    for i = 1, 6 do
      ts[i] = task.spawn(function() return net.ping("127.0.0.1", {count = 2}) end)
    end
    for i = 1, 6 do
      local ok, r = ts[i]:join()
      assert.is_true(ok)
      assert.are.equal(2, r.received)
    end
  end)

  it("a ping nobody answers times out and counts the loss", function()
    -- no route to 192.0.2.99 without an interface: sent, never answered
    local r = assert(net.ping("192.0.2.99", {count = 2, timeout = 30}))
    assert.are.equal(2, r.sent)
    assert.are.equal(0, r.received)
    assert.is_nil(r.avg)
  end)

  it("checks its arguments", function()
    assert.has_error(function() net.resolve() end,
      "bad argument #1 to 'net.resolve' (string expected, got no value)")
    assert.has_error(function() net.ping("127.0.0.1", {cuont = 2}) end,
      "bad argument #2 to 'net.ping' (unknown option 'cuont'; did you mean 'count'?)")
    assert.has_error(function() net.ping("127.0.0.1", {count = 0}) end,
      "bad argument #2 to 'net.ping' (count must be an integer from 1 to 1000)")
    assert.has_error(function() net.on("upp", print) end,
      "bad argument #1 to 'net.on' (invalid option 'upp'; did you mean 'up'?)")
    assert.has_error(function() net.on("up", print()) end,
      "bad argument #2 to 'net.on' (function expected, got no value; "
      .. "pass the function itself, not the result of calling it)")
    assert.has_error(function() net.wait_up(-1) end,
      "bad argument #1 to 'net.wait_up' (duration must be a non-negative number of ms)")
  end)

  it("registers and removes event handlers", function()
    local f = function() end
    assert.are.equal(f, net.on("up", f))
    assert.is_true(net.off("up", f))
    assert.is_false(net.off("up", f))
    net.on("down", f)
    assert.is_true(net.off("down"))
  end)

  it("counts the stack's memory in sys.memory()", function()
    assert.is_true(sys.memory().net > 0)
  end)
end)
