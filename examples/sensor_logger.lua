-- Read the environment sensor and the accelerometer every second and log
-- the values. `luaos run examples/sensor_logger.lua --for 10s`
local bme280 = require("bme280")
local lis3dh = require("lis3dh")

local lg = log.tag("logger")
local env = bme280.new(0, 0)
local accel = lis3dh.new(0, 1, {range = 2, rate = 10})

local period = tonumber((...)) or 1000
local next_at = sys.uptime()
while true do
  -- A sensor that fails after start-up (unplugged, unpowered, hung)
  -- raises from read(); log it and try again next period.
  local ok_e, e = pcall(env.read, env)
  local ok_a, a = pcall(accel.read, accel)
  if ok_e and ok_a then
    lg.info("T=%.2f C  P=%.1f hPa  RH=%.1f %%  a=(%.3f, %.3f, %.3f) g",
      e.temperature, e.pressure / 100, e.humidity, a.x, a.y, a.z)
  else
    lg.error("%s", ok_e and a or e)
  end
  -- keep a steady period however long the reads took
  next_at = next_at + period
  task.sleep(math.max(0, next_at - sys.uptime()))
end
