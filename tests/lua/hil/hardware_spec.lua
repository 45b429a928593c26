-- What can be asked of real chips, so it runs unchanged against real ones:
--   luaos test --board hil tests/lua/hil/hardware_spec.lua      (an FT232H, docs/hil.md)
-- in CI through the emulated adapter (--board hil-emu), and on devkit
-- against the models (the default board of this folder's specs). No
-- `sim`: the test sets nothing, it checks what the chips say at rest.
local bme280 = require("bme280")
local lis3dh = require("lis3dh")
local task = require("task")

describe("chips on an adapter's bus 0", function()
  it("the BME280 answers and reads plausibly", function()
    local s = bme280.new(0, 0)
    local c = s:calibration()
    assert.is_true(c.dig_T1 > 0) -- trimming read from the chip's NVM
    local r = s:read()
    assert.is_true(r.temperature > -40 and r.temperature < 85, r.temperature)
    assert.is_true(r.pressure > 30000 and r.pressure < 110000, r.pressure)
    assert.is_true(r.humidity >= 0 and r.humidity <= 100, r.humidity)
  end)

  it("the LIS3DH at rest feels about 1 g", function()
    local a = lis3dh.new(0, 1, { rate = 100 })
    task.sleep(20)
    local g = a:read()
    assert.is_near(1, math.sqrt(g.x ^ 2 + g.y ^ 2 + g.z ^ 2), 0.2)
  end)

  it("the LIS3DH's INT1 rises at its data rate (polled through the adapter)", function()
    local a = lis3dh.new(0, 1, { rate = 10, int1 = true })
    local n = 0
    gpio.on("ACCEL_INT", "rising", function()
      n = n + 1
      a:read()
    end)
    task.sleep(450)
    gpio.off("ACCEL_INT")
    assert.is_true(n >= 3 and n <= 5, n)
  end)

  it("LED0 sets and clears", function()
    gpio.mode("LED0", "out")
    gpio.write("LED0", 1)
    assert.are.equal(1, gpio.read("LED0"))
    gpio.write("LED0", 0)
    assert.are.equal(0, gpio.read("LED0"))
  end)
end)
