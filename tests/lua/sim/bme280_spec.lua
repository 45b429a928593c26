-- BME280 driver against the virtual chip "env" (bus 0, cs 0) on the
-- default board. Runs in the simulator: luaos test tests/lua/bme280_spec.lua
local bme280 = require("bme280")
local core = require("bme280.core")
local sim = require("sim")
local task = require("task")
local sys = require("sys")

local BUS, CS = 0, 0

describe("bme280", function()
  local env

  before_each(function()
    env = sim.part("env")
    sim.fault("env", nil)
    env:set{ temperature = 25, pressure = 101325, humidity = 40, raw_t = -1, raw_p = -1,
             raw_h = -1 }
  end)

  it("has a version and opens the chip", function()
    assert.are.equal("1.0", bme280._VERSION)
    assert.are.equal("1.0", core._VERSION)
    local s = bme280.new(BUS, CS)
    assert.are.equal("bme280(bus 0, cs 0, forced)", tostring(s))
    local c = s:calibration()
    assert.are.equal(27504, c.dig_T1)
    assert.are.equal(-1000, c.dig_T3)
    assert.are.equal(-7, c.dig_P6)
    assert.are.equal(313, c.dig_H4)
    assert.are.equal(50, c.dig_H5)
  end)

  it("reads the physical values set on the part", function()
    local s = bme280.new(BUS, CS)
    env:set{ temperature = 21.37, pressure = 98765.4, humidity = 55.5 }
    local r = s:read()
    assert.is_near(21.37, r.temperature, 0.015)
    assert.is_near(98765.4, r.pressure, 3)
    assert.is_near(55.5, r.humidity, 0.01)
  end)

  it("follows changes between forced reads", function()
    local s = bme280.new(BUS, CS)
    for _, v in ipairs({ { -40, 30000, 0 }, { 0, 70000, 20 }, { 85, 110000, 100 },
                         { 19.5, 101325, 63.2 } }) do
      env:set{ temperature = v[1], pressure = v[2], humidity = v[3] }
      local r = s:read()
      assert.is_near(v[1], r.temperature, 0.015)
      assert.is_near(v[2], r.pressure, 3)
      assert.is_near(v[3], r.humidity, 0.01)
    end
  end)

  it("every oversampling setting gives the value, finer with more samples", function()
    env:set{ temperature = 23.456, pressure = 100123.4, humidity = 45.67 }
    for _, osr in ipairs({ 1, 2, 4, 8, 16 }) do
      local s = bme280.new(BUS, CS, { osrs_t = osr, osrs_p = osr, osrs_h = osr })
      local r = s:read()
      -- resolution: 16 bits at x1 .. 20 bits at x16
      local steps = 2 ^ (4 - math.log(osr, 2))
      assert.is_near(23.456, r.temperature, 0.006 + 0.0004 * steps)
      assert.is_near(100123.4, r.pressure, 0.3 + 0.2 * steps)
      assert.is_near(45.67, r.humidity, 0.01)
    end
  end)

  it("a forced read waits the datasheet's conversion time", function()
    local s = bme280.new(BUS, CS, { osrs_t = 16, osrs_p = 16, osrs_h = 16 })
    local typ, max = s:measure_time()
    assert.are.equal(98, typ)      -- 1 + 2*16 + (2*16 + 0.5) * 2
    assert.is_near(112.8, max, 1e-9)
    local t0 = sys.uptime()
    s:read()
    local dt = sys.uptime() - t0
    assert.is_true(dt >= typ and dt < max + 2)
  end)

  it("leaves out skipped measurements", function()
    local s = bme280.new(BUS, CS, { osrs_p = 0, osrs_h = 0 })
    local r = s:read()
    assert.is_near(25, r.temperature, 0.015)
    assert.is_nil(r.pressure)
    assert.is_nil(r.humidity)
    local raw_t, raw_p, raw_h = s:read_raw()
    assert.are_not.equal(0x80000, raw_t)
    assert.are.equal(0x80000, raw_p)
    assert.are.equal(0x8000, raw_h)
    -- the chip reports x1 resolution as 16 bits: the low 4 bits are 0
    assert.are.equal(0, raw_t & 0xF)
  end)

  it("normal mode converts by itself every t_standby", function()
    local s = bme280.new(BUS, CS, { mode = "normal", standby = 125 })
    assert.is_near(25, s:read().temperature, 0.015)
    env:set("temperature", 30)
    -- the next conversion starts t_standby after the last one ended
    assert.is_near(25, s:read().temperature, 0.015)
    task.sleep(125 + 10)
    assert.is_near(30, s:read().temperature, 0.015)
    -- reads in normal mode only read: no ctrl_meas writes on the bus
    sim.spi_trace_clear()
    s:read()
    local trace = sim.spi_trace()
    assert.are.equal(1, #trace)
    assert.are.equal("\xF2", trace[1].tx:sub(1, 1))
  end)

  it("the IIR filter smooths a step", function()
    local s = bme280.new(BUS, CS, { filter = 16 })
    assert.is_near(25, s:read().temperature, 0.015)
    env:set("temperature", 35)
    local first = s:read().temperature
    assert.is_true(first > 25.3 and first < 26)  -- 1/16 of the step
    for _ = 1, 150 do s:read() end
    assert.is_near(35, s:read().temperature, 0.015)
  end)

  it("configure changes settings on an open sensor", function()
    local s = bme280.new(BUS, CS)
    s:configure{ osrs_p = 0 }
    assert.is_nil(s:read().pressure)
    assert.is_near(40, s:read().humidity, 0.01)
    s:configure{ osrs_p = 4 }
    assert.is_near(101325, s:read().pressure, 1)
  end)

  it("the simulator refuses physical values the chip cannot measure", function()
    assert.error_matches(function() env:set("temperature", 86) end, "out of range")
    assert.error_matches(function() env:set("pressure", 20000) end, "out of range")
    assert.error_matches(function() env:set("humidity", 101) end, "out of range")
    assert.error_matches(function() env:set("wind", 3) end, "no settable 'wind'")
    assert.error_matches(function() env:set{ temprature = 3 } end,
                         "env (bme280) has no settable 'temprature'; did you mean 'temperature'?",
                         nil, true)
  end)

  it("reports an absent chip with its id", function()
    env:set("fault", 1)
    assert.error_matches(function() bme280.new(BUS, CS) end,
                         "bme280 on spi0.cs0: no chip (id 0xff)", nil, true)
    env:set("fault", 0)
    assert.error_matches(function() bme280.new(BUS, 7) end,
                         "bme280 on spi0.cs7: no chip %(id 0xff%)")
    -- another chip answers with something else
    assert.error_matches(function() bme280.new(BUS, 1) end, "on spi0.cs1: no chip %(id 0x")
  end)

  it("times out when the measuring bit sticks", function()
    local s = bme280.new(BUS, CS, { timeout = 30 })
    sim.fault("env", "stuck")
    local t0 = sys.uptime()
    assert.error_matches(function() s:read() end,
                         "bme280 on spi0.cs0: measurement did not complete within 30 ms " ..
                         "(status 0x08)", nil, true)
    local waited = sys.uptime() - t0
    assert.is_true(waited >= 30 and waited < 35)
    sim.fault("env", nil)
    assert.is_near(25, s:read().temperature, 0.015)
  end)

  it("normal mode without conversions is an error, not a value", function()
    sim.fault("env", "stuck")
    local s = bme280.new(BUS, CS, { mode = "normal" })
    assert.error_matches(function() s:read() end, "bme280 on spi0.cs0: no measurement yet")
  end)

  describe("faults after new()", function()
    it("a disconnected chip (MISO floating, 0xFF) is an error, in both modes", function()
      for _, mode in ipairs({ "forced", "normal" }) do
        local s = bme280.new(BUS, CS, { mode = mode, standby = 10 })
        assert.is_near(25, s:read().temperature, 0.015)
        sim.fault("env", "disconnect")
        assert.are.equal("disconnect", sim.fault("env"))
        assert.error_matches(function() s:read() end,
                             "bme280 on spi0.cs0: no response (data 0xFF...", nil, true)
        assert.error_matches(function() s:read_raw() end, "no response %(data 0xFF")
        assert.error_matches(function() s:status() end, "no response %(data 0xFF")
        sim.fault("env", nil)
        assert.is_nil(sim.fault("env"))
        assert.is_near(25, s:read().temperature, 0.015)
      end
    end)

    it("an unpowered chip (0x00) is an error; when power returns the settings are restored",
       function()
      local s = bme280.new(BUS, CS, { osrs_p = 0, filter = 2 })
      assert.is_nil(s:read().pressure)
      sim.fault("env", "unpowered")
      assert.error_matches(function() s:read() end,
                           "bme280 on spi0.cs0: no response (data 0x00...", nil, true)
      sim.fault("env", nil) -- power-on reset: the chip forgot ctrl_meas, config, ctrl_hum
      env:set("temperature", 30)
      local warnings = {}
      log.sink(function(level, _, text) warnings[#warnings + 1] = level .. " " .. text end)
      local ok, r = pcall(s.read, s)
      log.sink(nil)
      assert.is_true(ok, r)
      assert.are.equal(1, #warnings)
      assert.matches("^warn bme280 on spi0.cs0: settings lost .*; restoring them$", warnings[1])
      assert.is_near(30, r.temperature, 0.015)
      assert.is_nil(r.pressure)
      assert.is_near(40, r.humidity, 0.01)
    end)

    it("normal mode: conversions that stop are an error once two periods passed", function()
      local s = bme280.new(BUS, CS, { mode = "normal", standby = 125 })
      assert.is_near(25, s:read().temperature, 0.015)
      sim.fault("env", "stuck")
      assert.is_near(25, s:read().temperature, 0.015) -- the last result is recent
      task.sleep(400)
      local t0 = sys.uptime()
      assert.error_matches(function() s:read() end,
                           "bme280 on spi0.cs0: measurement did not complete within %d+%.?%d* ms")
      local _, max = s:measure_time()
      assert.is_true(sys.uptime() - t0 <= 125 + 2 * max + 2)
    end)

    it("normal mode with a short standby still reads (measuring most of the time)", function()
      local s = bme280.new(BUS, CS, { mode = "normal", standby = 0.5,
                                      osrs_t = 16, osrs_p = 16, osrs_h = 16 })
      for _ = 1, 20 do
        assert.is_near(25, s:read().temperature, 0.015)
        task.sleep(333)
      end
    end)

    it("values outside the chip's range are errors, not readings", function()
      local s = bme280.new(BUS, CS)
      env:set("raw_t", 0xFFFFF)
      assert.error_matches(function() s:read() end,
                           "bme280 on spi0.cs0: temperature %d+%.?%d* degC outside the " ..
                           "sensor's range %-40..85")
      env:set{ raw_t = -1, raw_p = 0 }
      assert.error_matches(function() s:read() end, "pressure %d+.* Pa outside the sensor's " ..
                           "range 30000..110000")
      env:set{ raw_p = 0x80000 }
      assert.error_matches(function() s:read() end,
                           "bme280 on spi0.cs0: pressure not measured (raw 0x80000) with " ..
                           "osrs_p = 1", nil, true)
      env:set{ raw_p = -1, raw_h = 0x8000 }
      assert.error_matches(function() s:read() end, "humidity not measured %(raw 0x8000%)")
      env:set{ raw_h = -1, raw_t = 0x80000 }
      assert.error_matches(function() s:read() end, "no measurement yet %(raw temperature 0x80000")
      env:set("raw_t", -1)
      assert.is_near(101325, s:read().pressure, 3)
    end)

    it("sim.fault checks its arguments", function()
      assert.error_matches(function() sim.fault("env", "disconect") end,
                           "unknown fault 'disconect'; did you mean 'disconnect'?", nil, true)
      assert.error_matches(function() sim.fault("env", "melted") end,
                           "valid: disconnect, stuck, unpowered", nil, true)
      assert.error_matches(function() sim.fault("LED0", "stuck") end,
                           "LED0 (led) does not model the fault 'stuck'", nil, true)
      assert.error_matches(function() sim.fault("nope", nil) end, "no part named 'nope'")
      assert.error_matches(function() sim.fault("evn", "stuck") end,
                           "bad argument #1 to 'sim.fault' (no part named 'evn' on board " ..
                           "'devkit'; did you mean 'env'?)", nil, true)
      assert.error_matches(function() env:set("raw_t", 0x100000) end, "out of range")
      assert.error_matches(function() env:set("fault", 7) end, "out of range")
    end)
  end)

  it("validates its arguments", function()
    assert.error_matches(function() bme280.new("0", 0) end,
                         "bad argument #1 'bus' %(integer expected, got string%)")
    assert.error_matches(function() bme280.new(9, 0) end, "bad argument #1 'bus'")
    assert.error_matches(function() bme280.new(0, -1) end, "bad argument #2 'cs'")
    assert.error_matches(function() bme280.new(0, 0, 5) end, "bad argument #3 'opts'")
    assert.error_matches(function() bme280.new(0, 0, { osrs_x = 1 }) end,
                         "bme280.new: bad argument #3 'opts' (unknown option 'osrs_x'; did you " ..
                         "mean 'osrs_h'?)", nil, true)
    assert.error_matches(function() bme280.new(0, 0, { fliter = 2 }) end,
                         "unknown option 'fliter'; did you mean 'filter'?", nil, true)
    assert.error_matches(function() bme280.new(0, 0, { colour = 2 }) end,
                         "unknown option 'colour'; valid: filter, mode, osrs_h, osrs_p, osrs_t, " ..
                         "speed, spi_mode, standby, timeout)", nil, true)
    assert.error_matches(function() bme280.new(0, 0, { osrs_t = "4" }) end,
                         "bme280.new: bad option 'osrs_t' (number expected, got string '4')", nil,
                         true)
    assert.error_matches(function() bme280.new(0, 0, { mode = 3 }) end,
                         "bad option 'mode' (string expected, got number 3)", nil, true)
    assert.error_matches(function() bme280.new(0, 0, { timeout = "50" }) end,
                         "bad option 'timeout' (expected a positive number of ms, got '50')", nil,
                         true)
    assert.error_matches(function() bme280.new(0, 0, { [1] = 4 }) end,
                         "option keys must be strings, got a number key", nil, true)
    assert.error_matches(function() bme280.new(0, 0, { osrs_t = 3 }) end,
                         "bad option 'osrs_t' %(expected 0, 1, 2, 4, 8, 16, got 3%)")
    assert.error_matches(function() bme280.new(0, 0, { osrs_t = 0 }) end,
                         "temperature cannot be skipped")
    assert.error_matches(function() bme280.new(0, 0, { mode = "turbo" }) end, "bad option 'mode'")
    assert.error_matches(function() bme280.new(0, 0, { filter = 3 }) end, "bad option 'filter'")
    assert.error_matches(function() bme280.new(0, 0, { standby = 7 }) end,
                         "bad option 'standby'")
    assert.error_matches(function() bme280.new(0, 0, { speed = 20000000 }) end,
                         "bad option 'speed'")
    assert.error_matches(function() bme280.new(0, 0, { spi_mode = 1 }) end,
                         "bad option 'spi_mode'")
    assert.error_matches(function() bme280.new(0, 0, { timeout = -1 }) end,
                         "bad option 'timeout'")
    local s = bme280.new(BUS, CS)
    assert.error_matches(function() s:configure{ filter = 5 } end,
                         "bme280.configure: bad option 'filter'")
  end)

  it("core checks its arguments", function()
    local s = bme280.new(BUS, CS)
    local c = s:calibration()
    assert.error_matches(function() core.parse_calib("x", string.rep("\0", 7)) end,
                         "bad argument #1 to 'bme280.core.parse_calib' %(.*26 bytes %(got 1%)")
    assert.error_matches(function() core.compensate(c, "x") end,
                         "bad argument #2 to 'bme280.core.compensate' (number expected, got " ..
                         "string)", nil, true)
    assert.error_matches(function() core.compensate(5, 1) end,
                         "bad argument #1 to 'bme280.core.compensate' (bme280 calibration " ..
                         "expected, got number)", nil, true)
    assert.error_matches(function() core.parse_calib(string.rep("\0", 26), "") end,
                         "bad argument #2 .*7 bytes")
    assert.error_matches(function() core.compensate({}, 1) end, "bad argument #1")
    assert.error_matches(function() core.compensate(c, 0x100000) end, "bad argument #2")
    assert.error_matches(function() core.compensate(c, 1, -1) end, "bad argument #3")
    assert.error_matches(function() core.compensate(c, 1, 1, 0x10000) end, "bad argument #4")
    assert.error_matches(function() core.measure_time(8, 0, 0) end, "bad argument #1")
    -- the datasheet's worked example
    local t, p, h = core.compensate(c, 519888, 415148)
    assert.are.equal(25.08, t)
    assert.is_near(100653.27, p, 1)
    assert.is_nil(h)
    assert.is_nil((core.compensate(c, 0x80000, 415148)))
  end)

  it("talks to the chip as the datasheet describes (SPI trace)", function()
    local s = bme280.new(BUS, CS, { osrs_t = 2, osrs_p = 4, osrs_h = 1, filter = 2 })
    sim.spi_trace_clear()
    s:read()
    local trace = sim.spi_trace()
    -- trigger: ctrl_meas (0xF4, RW bit clear) = osrs_t 2, osrs_p 3, forced
    local trigger = trace[1]
    assert.are.equal(0, trigger.bus)
    assert.are.equal(0, trigger.cs)
    assert.is_nil(trigger.fault)
    assert.are.equal(string.char(0x74, 2 << 5 | 3 << 2 | 1), trigger.tx)
    -- then status polls (0xF3 | read) until measuring clears
    local i = 2
    while trace[i].tx:byte(1) == 0xF3 do i = i + 1 end
    assert.is_true(i > 2)
    assert.are.equal(0, trace[i - 1].rx:byte(2) & 0x08)
    -- and one burst read from ctrl_hum (0xF2) to the last data register
    -- (0xFE): the settings come along, so a reset chip is noticed
    local data = trace[i]
    assert.are.equal("\xF2" .. string.rep("\0", 13), data.tx)
    assert.are.equal(14, #data.rx)
    assert.are.equal(i, #trace)
    -- no earlier than the typical conversion time after the trigger
    local typ = s:measure_time()
    assert.is_true(data.t - trigger.t >= typ)

    -- new(): id, reset, NVM wait, calibration, configuration in sleep mode
    sim.spi_trace_clear()
    bme280.new(BUS, CS, { mode = "normal", filter = 4, standby = 62.5 })
    trace = sim.spi_trace()
    assert.are.equal("\xD0\0", trace[1].tx)
    assert.are.equal("\x60", trace[1].rx:sub(2))
    assert.are.equal("\x60\xB6", trace[2].tx)
    local config
    for _, r in ipairs(trace) do
      if r.tx:byte(1) == 0x74 and #r.tx == 8 then config = r.tx end
    end
    assert.are.equal(string.char(0x74, 1 << 5 | 1 << 2 | 0, 0x72, 1, 0x75, 1 << 5 | 2 << 2,
                                 0x74, 1 << 5 | 1 << 2 | 3), config)
  end)
end)
