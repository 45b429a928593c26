-- examples/dashboard.lua on the default board: the readings on the
-- display (compared pixel for pixel with the driver drawing the expected
-- text) and BTN0 mirrored on LED0 and on the screen.
local sim = require("sim")
local app = require("testing.app")
local ili9341 = require("ili9341")

local function region(x, y, w, h) return (select(3, sim.display_pixels("lcd", x, y, w, h))) end
local function px(x, y) return (string.unpack("<I2", region(x, y, 1, 1))) end

describe("examples/dashboard.lua", function()
  it("shows both sensors and mirrors BTN0 on LED0", function()
    sim.part("env"):set{ temperature = 21.25, pressure = 100000, humidity = 40 }
    sim.part("accel"):set{ x = 0, y = 0, z = 1 }
    log.sink(function() end)
    local t = app.run("examples/dashboard.lua", { args = table.pack(100), ["for"] = 1000 })
    task.sleep(300)
    assert.are.equal(1, sim.part("lcd"):get("on"))
    assert.are.equal(0, sim.part("lcd"):get("violations"))
    assert.are.equal(ili9341.rgb(0, 70, 140), px(2, 2)) -- the title bar
    assert.is_false(sim.led("LED0"))
    assert.are.equal(0, px(70, 268))
    sim.press("BTN0")
    task.sleep(20)
    assert.is_true(sim.led("LED0"))
    assert.are.equal(ili9341.GREEN, px(70, 268))
    sim.release("BTN0")
    task.sleep(20)
    assert.is_false(sim.led("LED0"))
    assert.are.equal(0, px(70, 268))
    -- a new temperature reaches the screen within a period
    sim.part("env"):set{ temperature = 30 }
    task.sleep(250)
    local shown = region(8, 60, 216, 24)
    local accel_shown = region(8, 162, 72, 8)
    t:cancel()
    t:join()
    gpio.off("BTN0")
    log.sink(nil)
    local lcd = ili9341.new(0, 2, { dc = "LCD_DC", reset = "LCD_RST" })
    lcd:fill(0)
    lcd:text(8, 60, ("%-12s"):format("30.00 C"), ili9341.WHITE, ili9341.BLACK, 3)
    lcd:text(8, 162, ("%-12s"):format("x +0.000 g"), ili9341.RED, ili9341.BLACK)
    assert.are.equal(region(8, 60, 216, 24), shown)
    assert.are.equal(region(8, 162, 72, 8), accel_shown)
  end)
end)
