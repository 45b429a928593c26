-- Blink LED0 every 500 ms. `luaos run examples/blink.lua [-- COUNT]`
-- (runs forever without a count; on the board LED0 is the FPGAIO LED 0).
local count = tonumber((...)) -- nil: forever

gpio.mode("LED0", "out")
local n = 0
while not count or n < count * 2 do
  gpio.toggle("LED0")
  n = n + 1
  task.sleep(500)
end
gpio.write("LED0", 0)
