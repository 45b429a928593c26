-- What the models tell the simulator window, checked from Lua: an LED's
-- brightness (its duty cycle over the last 20 ms of device time) and the
-- sensors' own words for their SPI transactions (sim.spi_trace's text).
local sim = require("sim")
local gpio = require("gpio")
local task = require("task")
local bme280 = require("bme280")
local lis3dh = require("lis3dh")

describe("LED brightness", function()
  local led = sim.part("LED0")
  setup(function() gpio.mode("LED0", "out") end)

  it("is 0 or 1 for a steady pin", function()
    gpio.write("LED0", 1)
    task.sleep(25)
    assert.are.equal(1, led:get("brightness"))
    gpio.write("LED0", 0)
    task.sleep(25)
    assert.are.equal(0, led:get("brightness"))
  end)

  it("follows a PWM's duty cycle", function()
    for _, duty in ipairs({ 1, 2, 3 }) do
      for _ = 1, 12 do
        gpio.write("LED0", 1)
        task.sleep(duty)
        gpio.write("LED0", 0)
        task.sleep(4 - duty)
      end
      assert.is_near(duty / 4, led:get("brightness"), 0.08)
    end
  end)

  it("an active-low LED is bright while its pin is low", function()
    led:set("active_low", 1)
    gpio.write("LED0", 0)
    task.sleep(25)
    assert.are.equal(1, led:get("brightness"))
    led:set("active_low", 0)
    assert.are.equal(0, led:get("brightness"))
  end)
end)

describe("SPI descriptions", function()
  it("name the BME280's and LIS3DH's registers", function()
    local env = bme280.new(0, 0)
    local acc = lis3dh.new(0, 1)
    sim.spi_trace_clear()
    env:read()
    acc:read()
    local t = sim.spi_trace()
    assert.are.equal("write ctrl_meas=0x25", t[1].text)
    assert.matches("^read 0xf3 status = %x%x$", t[2].text)
    assert.matches("^read 0xf2 ctrl_hum%.%. = 01 00 ", t[#t - 1].text)
    assert.matches("^read 0x27 STATUS_REG%.%. = ", t[#t].text)
    spi.setup(0, { cs = 1, mode = 3 }):write("\x20\x57")
    assert.are.equal("write 0x20 CTRL_REG1 <- 57", sim.spi_trace()[#t + 1].text)
    -- nothing on the chip select: no text
    spi.setup(0, { cs = 9 }):write("\1")
    assert.is_nil(sim.spi_trace()[#t + 2].text)
  end)
end)
