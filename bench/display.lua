-- Full-screen fills and blits on the ILI9341 model through the Lua driver:
-- frames per second by the wall clock and by device time.
--   luaos run bench/display.lua [FRAMES] [--virtual-time]
local bench = require("bench")
local ili9341 = require("ili9341")

local frames = tonumber((...)) or 30
local lcd = ili9341.new(0, 2, { dc = "LCD_DC", reset = "LCD_RST" })

-- A full-screen image (a colour ramp), as blit takes it.
local row = {}
for x = 0, lcd.width - 1 do row[#row + 1] = string.pack(">I2", x * 0x111 & 0xFFFF) end
local image = table.concat(row):rep(lcd.height)

local function measure(name, draw)
  draw(0)
  local t0, d0 = bench.now_ns(), sys.uptime()
  for i = 1, frames do draw(i) end
  local wall = (bench.now_ns() - t0) / 1e9
  local dev = (sys.uptime() - d0) / 1000
  -- (the simulator charges no device time for SPI bytes: a loop that
  -- never yields sees the clock stand still)
  print(("%s: %d frames, %.1f fps wall (%.2f ms each), device time %.3f s%s"):format(
    name, frames, frames / wall, wall * 1000 / frames, dev,
    dev > 0 and (" (%.1f fps)"):format(frames / dev) or ""))
end

measure("fill", function(i) lcd:fill(i * 0x0841 & 0xFFFF) end)
measure("blit", function() lcd:blit(0, 0, lcd.width, lcd.height, image) end)
measure("text", function(i) -- 40x40 characters of 6x8 cover the screen
  for y = 0, lcd.height - 8, 8 do lcd:text(0, y, ("%039d"):format(i * y), 0xFFFF, 0) end
end)
local bytes = lcd.width * lcd.height * 2
print(("a real bus at %d MHz carries one frame (%d bytes) in %.1f ms: at most %.1f fps"):format(
  10, bytes, bytes * 8 / 10e6 * 1000, 10e6 / (bytes * 8)))
print(("violations: %d"):format(require("sim").part("lcd"):get("violations")))
