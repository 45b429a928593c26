-- The socket examples run as apps over loopback (--net none).
local app = require("testing.app")

describe("socket examples", function()
  it("tcp_echo serves its own five clients and stops", function()
    local t = app.run("examples/tcp_echo.lua", {args = {"7400", "5"}})
    assert.are.same({true}, {t:join()})
  end)

  it("udp_beacon hears its own beacons over loopback", function()
    local t = app.run("examples/udp_beacon.lua", {args = {"3", "127.0.0.1"}})
    assert.are.same({true}, {t:join()})
  end)

  it("tcp_echo runs until cancelled", function()
    local t = app.run("examples/tcp_echo.lua", {["for"] = 500})
    task.sleep(100)
    local c = assert(require("socket").connect("127.0.0.1", 7000, {timeout = 1000}))
    assert(c:send("still there?\n"))
    assert.are.equal("still there?", c:receive())
    c:close()
    assert.are.same({nil, "cancelled"}, {t:join()})
    collectgarbage()
    collectgarbage() -- the app's server socket is closed once collected
    assert(require("socket").bind("127.0.0.1", 7000)):close()
  end)
end)
