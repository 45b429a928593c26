-- sim.pin/sim.drive range checks and the traces' limits.
local sim = require("sim")

describe("sim.pin and sim.drive", function()
  it("range-check pin numbers as 64-bit integers (2^32 + 1 is not pin 1)", function()
    gpio.mode(1, "in")
    sim.drive(1, nil)
    local before = sim.pin(1)
    for _, bad in ipairs({ 2 ^ 32 + 1, math.tointeger(2 ^ 32 + 1), 2 ^ 63, math.maxinteger,
                           math.mininteger, -1, gpio.count() }) do
      assert.error_matches(function() sim.pin(bad) end, "bad argument #1 to '[%w.]*pin' %(no such pin")
      assert.error_matches(function() sim.drive(bad, 1 - before) end,
                           "bad argument #1 to '[%w.]*drive' %(no such pin")
    end
    assert.are.equal(before, sim.pin(1)) -- pin 1 was never driven
    assert.error_matches(function() sim.pin(1.5) end, "number has no integer representation")
    assert.error_matches(function() sim.pin({}) end, "bad argument #1")
    assert.error_matches(function() sim.pin() end, "bad argument #1")
    assert.are.equal(sim.pin(1), sim.pin(1.0))
  end)

  it("names a near pin name when a name is mistyped", function()
    assert.error_matches(function() sim.pin("led0") end, "no pin named 'led0'; did you mean 'LED0'%?")
    assert.error_matches(function() sim.drive("ACCEL_IN", 1) end, "did you mean 'ACCEL_INT'%?")
    assert.error_matches(function() sim.pin("3") end, "no pin named '3'")
  end)

  it("drives by name and by number alike", function()
    gpio.mode("BTN0", "in")
    sim.drive("BTN0", 1)
    assert.are.equal(1, sim.pin(gpio.pin("BTN0")))
    sim.drive(gpio.pin("BTN0"), 0)
    assert.are.equal(0, sim.pin("BTN0"))
    sim.drive("BTN0", nil)
  end)
end)

describe("traces", function()
  it("record the real length of a long SPI transfer", function()
    local dev = spi.setup(1, { cs = 0 })
    sim.spi_trace_clear()
    local data = ("\90"):rep(100000)
    assert.are.equal(data, dev:transfer(data))
    local tr = sim.spi_trace()
    assert.are.equal(1, #tr)
    assert.are.equal(100000, tr[1].len)
    assert.are.equal(64, #tr[1].tx) -- the first bytes only
    assert.are.equal(("\90"):rep(64), tr[1].rx)
  end)

  it("return every kept record when the trace is full", function()
    local dev = spi.setup(1, { cs = 0 })
    sim.spi_trace_clear()
    for i = 1, 1500 do dev:transfer(string.char(i % 256)) end
    local tr = sim.spi_trace()
    assert.are.equal(1024, #tr)
    assert.are.equal(string.char(1500 % 256), tr[#tr].tx)
    gpio.mode("LED1", "out")
    sim.gpio_trace_clear()
    for i = 1, 1500 do gpio.write("LED1", i % 2) end
    local gt = sim.gpio_trace()
    assert.are.equal(1024, #gt)
    assert.are.equal(0, gt[#gt].level)
  end)
end)
