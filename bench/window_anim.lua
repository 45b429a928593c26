-- The display animated as fast as the SPI bus and the model go (tools/
-- bench-window): full-screen fills in four colours, one after another.
-- arg[1] "yield": task.yield() between fills; otherwise task.sleep(1).
-- Prints the fills of each second.
local ili9341 = require("ili9341")
local lcd = ili9341.new(0, 2, { dc = "LCD_DC", reset = "LCD_RST" })
local mode = ...
local n = 0
local colors = { ili9341.RED, ili9341.GREEN, ili9341.BLUE, ili9341.WHITE }
task.spawn(function()
  while true do
    task.sleep(1000)
    print("fills", n)
  end
end)
while true do
  n = n + 1
  lcd:fill(colors[n % 4 + 1])
  if mode == "yield" then task.yield() else task.sleep(1) end
end
