-- The simulator's control API and board.
local sim = require("sim")

describe("sim", function()
  it("lists the default board's parts", function()
    assert.are.equal("devkit", sim.board())
    local names = {}
    for _, p in ipairs(sim.parts()) do names[p.name] = p.type end
    assert.are.equal("led", names.LED0)
    assert.are.equal("button", names.BTN0)
    assert.are.equal("switch", names.SW0)
    assert.are.equal("loopback", names.loop)
  end)

  it("parts describe their wiring", function()
    local loop = sim.part("loop")
    assert.are.equal(1, loop.bus)
    assert.are.equal(0, loop.cs)
    assert.are.equal(gpio.pin("LED0"), sim.part("LED0").pin)
  end)

  it("switches drive their pin", function()
    gpio.mode("SW0", "in")
    sim.switch("SW0", true)
    assert.are.equal(1, gpio.read("SW0"))
    sim.switch("SW0", false)
    assert.are.equal(0, gpio.read("SW0"))
    sim.switch("SW0", 1)
    assert.are.equal(1, gpio.read("SW0"))
    sim.switch("SW0", 0)
    assert.are.equal(0, gpio.read("SW0"))
  end)

  it("buttons hold their idle level from power-on, whatever the pull", function()
    gpio.mode("BTN1", "in_pullup")
    assert.are.equal(0, gpio.read("BTN1"))
    sim.press("BTN1")
    assert.are.equal(1, gpio.read("BTN1"))
    sim.release("BTN1")
    assert.are.equal(0, gpio.read("BTN1"))
  end)

  it("records SPI transactions", function()
    local dev = spi.setup(1, {cs = 0})
    sim.spi_trace_clear()
    dev:transfer("\1\2")
    spi.setup(1, {cs = 5}):transfer("\3") -- nothing on cs 5: MISO floats high
    local tr = sim.spi_trace()
    assert.are.equal(2, #tr)
    assert.are.equal("\1\2", tr[1].tx)
    assert.are.equal("\1\2", tr[1].rx)
    assert.is_nil(tr[1].fault)
    assert.are.equal("\255", tr[2].rx)
    assert.are.equal("no device", tr[2].fault)
  end)

  it("reports errors naming the part and the key", function()
    assert.error_matches(function() sim.part("nope") end, "no part named 'nope'")
    assert.error_matches(function() sim.press("LED0") end, "is a led, not a button")
    assert.error_matches(function() sim.part("LED0"):set{lit = 1} end, "no settable 'lit'")
    assert.error_matches(function() sim.part("BTN0"):get("color") end, "has no 'color'")
    assert.error_matches(function() sim.part("BTN0"):set("pressed", 3) end, "out of range")
    assert.error_matches(function() sim.part("BTN0"):set("pressed", "yes") end, "must be a number")
    assert.error_matches(function() sim.drive("LED0", 7) end, "bad argument #2")
  end)
end)

describe("virtual time", function()
  it("an hour of device time with 100 sleeping tasks passes instantly and exactly", function()
    local t0 = sys.uptime()
    local wakeups = 0
    for i = 1, 100 do
      task.spawn(function()
        while sys.uptime() - t0 < 3600000 do
          task.sleep(1000 + i)
          wakeups = wakeups + 1
        end
      end)
    end
    task.sleep(3600000 + 2000)
    local expected = 0
    for i = 1, 100 do expected = expected + math.ceil(3600000 / (1000 + i)) end
    assert.are.equal(expected, wakeups)
    assert.are.equal(3600000 + 2000, sys.uptime() - t0)
  end)
end)
