-- Both sensors' readings on the ILI9341 display, and BTN0 mirrored on LED0
-- (and on the screen). Uses spi, gpio and the drivers only, so the same
-- file runs on a board wired like the devkit.
--   luaos run examples/dashboard.lua [PERIOD_MS]
local ili9341 = require("ili9341")
local bme280 = require("bme280")
local lis3dh = require("lis3dh")

local period = tonumber((...)) or 500
local lg = log.tag("dashboard")

local BG, FG, DIM = ili9341.BLACK, ili9341.WHITE, ili9341.GRAY
local HEAD, OK, BAD = ili9341.rgb(0, 70, 140), ili9341.GREEN, ili9341.RED
local AXIS = { x = ili9341.RED, y = ili9341.GREEN, z = ili9341.rgb(80, 140, 255) }

local lcd = ili9341.new(0, 2, { dc = "LCD_DC", reset = "LCD_RST" })
local env = bme280.new(0, 0)
local accel = lis3dh.new(0, 1, { range = 2, rate = 10 })

-- The fixed part of the screen.
lcd:fill(BG)
lcd:rect(0, 0, lcd.width, 28, HEAD)
lcd:text(12, 6, "Lua OS devkit", FG, HEAD, 2)
lcd:text(8, 40, "ENVIRONMENT (BME280)", DIM, BG)
lcd:hline(8, 50, 224, DIM)
lcd:text(8, 146, "ACCELERATION (LIS3DH)", DIM, BG)
lcd:hline(8, 156, 224, DIM)
lcd:text(8, 264, "BTN0", DIM, BG)

-- A value at a fixed place, padded so the last one is overwritten.
local function field(x, y, width, s, color, scale)
  lcd:text(x, y, ("%-" .. width .. "s"):format(s):sub(1, width), color, BG, scale)
end

-- An axis as a bar from the centre line: +-2 g over +-100 pixels.
local function bar(y, g, color)
  local w = math.max(-100, math.min(100, math.floor(g * 50 + 0.5)))
  lcd:rect(20, y, 201, 8, BG)
  lcd:vline(120, y, 8, DIM)
  if w > 0 then lcd:rect(121, y, w, 8, color) elseif w < 0 then lcd:rect(120 + w, y, -w, 8, color) end
end

local function show_button(level)
  lcd:rect(60, 258, 20, 20, level == 1 and OK or BG)
  lcd:rect(60, 258, 20, 1, DIM)
  lcd:rect(60, 277, 20, 1, DIM)
  lcd:vline(60, 258, 20, DIM)
  lcd:vline(79, 258, 20, DIM)
  field(90, 264, 8, level == 1 and "pressed" or "released", level == 1 and OK or DIM)
end

gpio.mode("LED0", "out")
gpio.mode("BTN0", "in")
gpio.on("BTN0", "both", function(_, level)
  gpio.write("LED0", level)
  show_button(level)
end)
show_button(gpio.read("BTN0"))
gpio.write("LED0", gpio.read("BTN0"))

lg.info("ready: readings every %d ms on the display", period)
local next_at = sys.uptime()
while true do
  local ok_e, e = pcall(env.read, env)
  if ok_e then
    field(8, 60, 12, ("%.2f C"):format(e.temperature), FG, 3)
    field(8, 92, 19, ("%.1f hPa"):format(e.pressure / 100), FG, 2)
    field(8, 116, 19, ("%.1f %%RH"):format(e.humidity), FG, 2)
  else
    field(8, 60, 12, "-- C", BAD, 3)
    field(8, 92, 19, "sensor error", BAD, 2)
    field(8, 116, 19, "", FG, 2)
  end
  local ok_a, a = pcall(accel.read, accel)
  for i, axis in ipairs({ "x", "y", "z" }) do
    local y = 150 + 22 * i
    if ok_a then
      field(8, y - 10, 12, ("%s %+.3f g"):format(axis, a[axis]), AXIS[axis])
      bar(y, a[axis], AXIS[axis])
    else
      field(8, y - 10, 12, axis .. " error", BAD)
    end
  end
  field(8, 300, 20, ("up %d s"):format(sys.uptime() // 1000), DIM)
  if not ok_e or not ok_a then lg.error("%s", ok_e and a or e) end
  next_at = next_at + period
  task.sleep(math.max(0, next_at - sys.uptime()))
end
