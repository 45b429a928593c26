-- The examples, run inside the simulator against the default board, as
-- apps (testing.app runs a file the way `luaos run` does).
local sim = require("sim")
local app = require("testing.app")

local function run_example(name, ...)
  return app.run("examples/" .. name .. ".lua", {args = table.pack(...)})
end

describe("examples", function()
  local lines
  before_each(function()
    lines = {}
    log.sink(function(level, tag, msg) lines[#lines + 1] = level .. " " .. tostring(tag) .. ": " .. msg end)
  end)
  after_each(function() log.sink(nil) end)

  it("blink toggles LED0 every 500 ms", function()
    sim.gpio_trace_clear()
    local t0 = sys.uptime()
    local t = run_example("blink", 3)
    assert.is_true(t:join())
    local changes = {}
    for _, e in ipairs(sim.gpio_trace()) do
      if e.pin == gpio.pin("LED0") then changes[#changes + 1] = {e.level, e.t - t0} end
    end
    assert.are.same({{1, 0}, {0, 500}, {1, 1000}, {0, 1500}, {1, 2000}, {0, 2500}}, changes)
    assert.is_false(sim.led("LED0"))
  end)

  it("blink without a count runs until stopped (like luaos run --for)", function()
    sim.gpio_trace_clear()
    local t = app.run("examples/blink.lua", {["for"] = 1200})
    task.sleep(1201)
    assert.are.equal("dead", t:status())
    assert.are.same({nil, "cancelled"}, {t:join()})
    local n = 0
    for _, e in ipairs(sim.gpio_trace()) do
      if e.pin == gpio.pin("LED0") then n = n + 1 end
    end
    assert.are.equal(3, n) -- toggles at 0, 500 and 1000 ms
    gpio.write("LED0", 0)
  end)

  it("button_led: LED0 follows BTN0, BTN1 toggles LED1 with debounce", function()
    assert.is_true(run_example("button_led"):join())
    sim.press("BTN0"); task.sleep(1)
    assert.is_true(sim.led("LED0"))
    sim.release("BTN0"); task.sleep(1)
    assert.is_false(sim.led("LED0"))
    -- a bouncy press: only one toggle
    for _ = 1, 3 do sim.press("BTN1"); sim.release("BTN1") end
    sim.press("BTN1")
    task.sleep(50)
    assert.is_true(sim.led("LED1"))
    sim.release("BTN1"); task.sleep(50)
    sim.press("BTN1"); task.sleep(50)
    assert.is_false(sim.led("LED1"))
    assert.truthy(lines[#lines]:find("LED1 off", 1, true))
    gpio.off("BTN0"); gpio.off("BTN1")
  end)

  it("sensor_logger logs both sensors every second", function()
    sim.part("env"):set{temperature = 18.25, pressure = 95000, humidity = 33}
    sim.part("accel"):set{x = 0, y = -1, z = 0}
    local t = run_example("sensor_logger")
    task.sleep(3500)
    t:cancel()
    local logged = {}
    for _, l in ipairs(lines) do if l:find("logger:", 1, true) then logged[#logged + 1] = l end end
    assert.are.equal(4, #logged)
    assert.truthy(logged[4]:find("T=18.2", 1, true), logged[4])
    assert.truthy(logged[4]:find("P=950.0 hPa", 1, true), logged[4])
    assert.truthy(logged[4]:find("RH=33.0", 1, true), logged[4])
    assert.truthy(logged[4]:find("a=(0.000, -1.000, 0.000)", 1, true), logged[4])
  end)

  it("sensor_logger logs a sensor fault and goes on", function()
    local t = run_example("sensor_logger")
    task.sleep(500)
    sim.fault("env", "disconnect")
    task.sleep(1000)
    sim.fault("env", nil)
    task.sleep(1000)
    t:cancel()
    local logged = {}
    for _, l in ipairs(lines) do if l:find("logger:", 1, true) then logged[#logged + 1] = l end end
    assert.are.equal(3, #logged)
    assert.truthy(logged[2]:find("error logger: bme280 on spi0.cs0: no response (data 0xFF", 1,
                                 true), logged[2])
    assert.truthy(logged[3]:find("T=", 1, true), logged[3])
  end)
end)
