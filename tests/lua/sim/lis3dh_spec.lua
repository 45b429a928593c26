-- LIS3DH driver against the virtual chip "accel" (bus 0, cs 1, INT1 on
-- ACCEL_INT) on the default board. Runs in the simulator:
--   luaos test tests/lua/lis3dh_spec.lua
local lis3dh = require("lis3dh")
local sim = require("sim")
local task = require("task")
local sys = require("sys")

local BUS, CS = 0, 1

describe("lis3dh", function()
  local accel

  before_each(function()
    accel = sim.part("accel")
    sim.fault("accel", nil)
    accel:set{ x = 0, y = 0, z = 1 }
  end)

  it("has a version and opens the chip", function()
    assert.are.equal("1.0", lis3dh._VERSION)
    local a = lis3dh.new(BUS, CS)
    assert.are.equal("lis3dh(bus 0, cs 1, +-2g, 100 Hz, normal)", tostring(a))
  end)

  it("reads acceleration in g", function()
    local a = lis3dh.new(BUS, CS)
    accel:set{ x = 0.5, y = -0.3, z = 0.98 }
    task.sleep(10)
    local g = a:read()
    assert.is_near(0.5, g.x, 0.004)
    assert.is_near(-0.3, g.y, 0.004)
    assert.is_near(0.98, g.z, 0.004)
  end)

  it("the first read waits for the first sample", function()
    accel:set{ x = 0.25 }
    local a = lis3dh.new(BUS, CS, { rate = 10 })
    local t0 = sys.uptime()
    assert.is_near(0.25, a:read().x, 0.004)
    assert.is_true(sys.uptime() - t0 >= 100)
    -- later reads do not wait
    t0 = sys.uptime()
    a:read()
    assert.are.equal(t0, sys.uptime())
  end)

  it("each mode has its resolution", function()
    accel:set{ x = 0.123, y = -1.234, z = 1.5 }
    -- mode -> mg per digit at +-2 g
    for mode, step in pairs({ low = 16, normal = 4, high = 1 }) do
      local a = lis3dh.new(BUS, CS, { mode = mode })
      task.sleep(10)
      local g = a:read()
      local tol = step / 2000 + 1e-9
      assert.is_near(0.123, g.x, tol)
      assert.is_near(-1.234, g.y, tol)
      assert.is_near(1.5, g.z, tol)
      -- readings are whole multiples of the sensitivity
      local counts = g.x * 1000 / step
      assert.is_near(math.floor(counts + 0.5), counts, 1e-6)
    end
  end)

  it("each range clamps at its full scale", function()
    for _, range in ipairs({ 2, 4, 8, 16 }) do
      local a = lis3dh.new(BUS, CS, { range = range, mode = "high" })
      accel:set{ x = 20, y = -20, z = range / 2 }
      task.sleep(10)
      local g = a:read()
      -- +-16 g at 12 mg/digit stops at 1333 digits = 15.996 g
      assert.is_near(range, g.x, 0.012)
      assert.is_near(-range, g.y, 0.012)
      assert.is_near(range / 2, g.z, 0.012)
    end
  end)

  it("new data arrives at the output data rate", function()
    local a = lis3dh.new(BUS, CS, { rate = 10 })
    assert.is_false((a:data_ready()))
    task.sleep(99)
    assert.is_false((a:data_ready()))
    task.sleep(1)
    assert.is_true((a:data_ready()))
    a:read()
    assert.is_false((a:data_ready()))
    -- two periods unread: the second sample overran the first
    task.sleep(200)
    local ready, overrun = a:data_ready()
    assert.is_true(ready)
    assert.is_true(overrun)
    a:read()
    ready, overrun = a:data_ready()
    assert.is_false(ready)
    assert.is_false(overrun)
  end)

  it("power-down produces no data", function()
    local a = lis3dh.new(BUS, CS, { rate = 0 })
    task.sleep(1000)
    assert.is_false((a:data_ready()))
    assert.error_matches(function() a:read() end,
                         "lis3dh on spi0.cs1: powered down (rate 0): no samples to read", nil, true)
    a:configure{ rate = 400 }
    task.sleep(3)
    assert.is_true((a:data_ready()))
  end)

  it("raises INT1 when data is ready and drops it when read", function()
    local a = lis3dh.new(BUS, CS, { rate = 100, int1 = true })
    assert.are.equal(0, sim.pin("ACCEL_INT"))
    task.sleep(10)
    -- the model updates lazily: any access brings it up to date
    assert.is_true((a:data_ready()))
    assert.are.equal(1, sim.pin("ACCEL_INT"))
    a:read()
    assert.are.equal(0, sim.pin("ACCEL_INT"))
    -- not routed: INT1 stays low
    a:configure{ int1 = false }
    task.sleep(10)
    a:data_ready()
    assert.are.equal(0, sim.pin("ACCEL_INT"))
  end)

  it("INT1 interrupts arrive on their own at the data rate", function()
    local a = lis3dh.new(0, 1, {rate = 10, int1 = true})
    local edges, values = {}, {}
    sim.part("accel"):set{x = 0.25, y = 0, z = 1}
    local t0 = sys.uptime()
    gpio.on("ACCEL_INT", "rising", function(_, _, t)
      edges[#edges + 1] = t - t0
      values[#values + 1] = a:read().x -- reading drops INT1 for the next sample
    end)
    task.sleep(550)
    gpio.off("ACCEL_INT")
    assert.are.equal(5, #edges)
    for i = 2, #edges do assert.are.equal(100, edges[i] - edges[i - 1]) end
    assert.is_true(math.abs(values[#values] - 0.25) <= 0.004) -- 4 mg per digit
    task.sleep(500) -- nobody listens now: no more edges
    assert.are.equal(5, #edges)
  end)

  it("reports an absent chip with its id", function()
    accel:set("fault", 1)
    assert.error_matches(function() lis3dh.new(BUS, CS) end,
                         "lis3dh on spi0.cs1: no chip (id 0xff)", nil, true)
    accel:set("fault", 0)
    assert.error_matches(function() lis3dh.new(BUS, 6) end, "on spi0.cs6: no chip %(id 0xff%)")
    assert.error_matches(function() lis3dh.new(BUS, 0) end, "on spi0.cs0: no chip %(id 0x")
  end)

  describe("faults after new()", function()
    it("a disconnected chip (0xFF) is an error, and reads work again once it is back", function()
      local a = lis3dh.new(BUS, CS)
      assert.is_near(1, a:read().z, 0.004)
      sim.fault("accel", "disconnect")
      assert.error_matches(function() a:read() end,
                           "lis3dh on spi0.cs1: no response (data 0xFF...", nil, true)
      assert.error_matches(function() a:read_raw() end, "no response %(data 0xFF")
      assert.error_matches(function() a:data_ready() end, "no response %(data 0xFF")
      sim.fault("accel", nil)
      task.sleep(10)
      assert.is_near(1, a:read().z, 0.004)
    end)

    it("an unpowered chip (0x00) is an error; when power returns the settings are restored",
       function()
      local a = lis3dh.new(BUS, CS, { range = 8, mode = "high" })
      assert.is_near(1, a:read().z, 0.004)
      sim.fault("accel", "unpowered")
      task.sleep(10)
      assert.error_matches(function() a:read() end,
                           "lis3dh on spi0.cs1: no response (data 0x00...", nil, true)
      sim.fault("accel", nil) -- power-on reset: powered down, +-2 g
      accel:set("x", 6)
      task.sleep(10)
      local warnings = {}
      log.sink(function(level, _, text) warnings[#warnings + 1] = level .. " " .. text end)
      local ok, g = pcall(a.read, a)
      log.sink(nil)
      assert.is_true(ok, g)
      assert.are.same({ "warn lis3dh on spi0.cs1: settings lost (chip reset?); restoring them" },
                      warnings)
      assert.is_near(6, g.x, 0.004) -- beyond +-2 g: the +-8 g setting is back
      assert.is_near(1, g.z, 0.004)
    end)

    it("data that stops coming is an error, not the last sample again", function()
      local a = lis3dh.new(BUS, CS, { rate = 100 })
      accel:set("x", 0.5)
      assert.is_near(0.5, a:read().x, 0.004)
      sim.fault("accel", "stuck")
      accel:set("x", -0.5)
      -- within one period the last sample is still the latest
      assert.is_near(0.5, a:read().x, 0.004)
      task.sleep(50)
      local t0 = sys.uptime()
      assert.error_matches(function() a:read() end,
                           "lis3dh on spi0.cs1: no new data within 21 ms at 100 Hz (status 0x00)",
                           nil, true)
      local waited = sys.uptime() - t0
      assert.is_true(waited >= 21 and waited < 23)
      sim.fault("accel", nil)
      assert.is_near(-0.5, a:read().x, 0.004) -- waits for the next sample
    end)

    it("reading faster than the data rate waits for no sample", function()
      local a = lis3dh.new(BUS, CS, { rate = 10 })
      a:read()
      local t0 = sys.uptime()
      for _ = 1, 5 do a:read() end
      assert.are.equal(t0, sys.uptime())
      task.sleep(150) -- a new sample is waiting: no wait either
      t0 = sys.uptime()
      a:read()
      assert.are.equal(t0, sys.uptime())
    end)
  end)

  it("validates its arguments", function()
    assert.error_matches(function() lis3dh.new(nil, 1) end,
                         "bad argument #1 'bus' %(integer expected, got nil%)")
    assert.error_matches(function() lis3dh.new(0, 1.5) end, "bad argument #2 'cs'")
    assert.error_matches(function() lis3dh.new(0, 1, "fast") end, "bad argument #3 'opts'")
    assert.error_matches(function() lis3dh.new(0, 1, { range = 3 }) end,
                         "bad option 'range' %(expected 2, 4, 8, 16 %(g%), got 3%)")
    assert.error_matches(function() lis3dh.new(0, 1, { rate = 99 }) end, "bad option 'rate'")
    assert.error_matches(function() lis3dh.new(0, 1, { rate = 5376 }) end,
                         "5376 Hz is not available in normal mode")
    assert.error_matches(function() lis3dh.new(0, 1, { rate = 1344, mode = "low" }) end,
                         "1344 Hz is not available in low mode")
    assert.error_matches(function() lis3dh.new(0, 1, { mode = "fast" }) end, "bad option 'mode'")
    assert.error_matches(function() lis3dh.new(0, 1, { int1 = 1 }) end, "bad option 'int1'")
    assert.error_matches(function() lis3dh.new(0, 1, { spi_mode = 2 }) end,
                         "bad option 'spi_mode'")
    assert.error_matches(function() lis3dh.new(0, 1, { ragne = 2 }) end,
                         "lis3dh.new: bad argument #3 'opts' (unknown option 'ragne'; did you " ..
                         "mean 'range'?)", nil, true)
    assert.error_matches(function() lis3dh.new(0, 1, { rate = "100" }) end,
                         "lis3dh.new: bad option 'rate' (number expected, got string '100')", nil,
                         true)
    assert.error_matches(function() lis3dh.new(0, 1, { int1 = 1 }) end,
                         "bad option 'int1' (boolean expected, got number 1)", nil, true)
    assert.error_matches(function() accel:set("x", 1000) end, "out of range")
    assert.has_no.errors(function() lis3dh.new(0, 1, { rate = 5376, mode = "low" }) end)
  end)

  it("talks to the chip as the datasheet describes (SPI trace)", function()
    sim.spi_trace_clear()
    local a = lis3dh.new(BUS, CS, { range = 8, rate = 50, mode = "high", int1 = true })
    local trace = sim.spi_trace()
    assert.are.equal(3, #trace)
    -- WHO_AM_I: read bit, no auto-increment
    assert.are.equal("\x8F\0", trace[1].tx)
    assert.are.equal("\x33", trace[1].rx:sub(2))
    -- CTRL_REG1..4 in one auto-incrementing write: 50 Hz, XYZ on; HPF off;
    -- I1_ZYXDA; BDU, +-8 g, HR
    assert.are.equal(string.char(0x60, 0x47, 0x00, 0x10, 0x80 | 2 << 4 | 0x08), trace[2].tx)
    assert.are.equal(1, trace[2].cs)
    assert.is_nil(trace[2].fault)
    -- a dummy read of the outputs clears any stale data-ready
    assert.are.equal("\xE8" .. string.rep("\0", 6), trace[3].tx)

    sim.spi_trace_clear()
    accel:set("x", -1)
    task.sleep(20)
    a:read()
    trace = sim.spi_trace()
    assert.are.equal(1, #trace)
    -- one burst from STATUS_REG (read + auto-increment) through the
    -- outputs, little-endian, left-justified: -1 g at 4 mg/digit = -250 =
    -- 0xF060 after << 4
    assert.are.equal("\xE7" .. string.rep("\0", 7), trace[1].tx)
    assert.are.equal(0x0F, trace[1].rx:byte(2) & 0x0F) -- new data on X, Y, Z
    assert.are.equal("\x60\xF0", trace[1].rx:sub(3, 4))
  end)
end)
