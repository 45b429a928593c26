-- The quick-start demo on the default virtual board: LED0 blinks, BTN0
-- drives LED1 through an interrupt, and both sensors are logged every
-- second. In the simulator a scripted "user" presses BTN0 now and then and
-- warms the room, so the log shows interrupts and changing readings.
local bme280 = require("bme280")
local lis3dh = require("lis3dh")

local lg = log.tag("demo")
lg.info("%s on board '%s'", sys.version(), sys.board())

gpio.mode("LED0", "out")
gpio.mode("LED1", "out")
timer.every(500, function() gpio.toggle("LED0") end)

gpio.on("BTN0", "both", function(_, level)
  gpio.write("LED1", level)
  lg.info("BTN0 %s -> LED1 %s", level == 1 and "down" or "up", level == 1 and "on" or "off")
end)

local env = bme280.new(0, 0)
local accel = lis3dh.new(0, 1, {range = 2, rate = 10})
task.spawn(function()
  while true do
    local e, a = env:read(), accel:read()
    lg.info("T=%.2f C  P=%.1f hPa  RH=%.1f %%  a=(%.2f, %.2f, %.2f) g",
      e.temperature, e.pressure / 100, e.humidity, a.x, a.y, a.z)
    task.sleep(1000)
  end
end)

-- The virtual world (only in the simulator).
local ok, sim = pcall(require, "sim")
if ok then
  task.spawn(function()
    local t = 21.0
    while true do
      task.sleep(2500)
      sim.press("BTN0")
      task.sleep(300)
      sim.release("BTN0")
      t = t + 0.5
      sim.part("env"):set{temperature = t, humidity = 40 + t / 2}
      sim.part("accel"):set{x = 0.1 * math.sin(t), y = 0, z = 1}
    end
  end)
end
