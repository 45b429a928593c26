-- Buttons drive LEDs through interrupts: LED0 follows BTN0 (both edges),
-- each press of BTN1 toggles LED1. Handlers run as tasks, so the debounce
-- below simply sleeps.
local DEBOUNCE_MS = 20
local lg = log.tag("buttons")

gpio.mode("LED0", "out")
gpio.mode("LED1", "out")
gpio.mode("BTN0", "in")
gpio.mode("BTN1", "in")

gpio.on("BTN0", "both", function(_, level)
  gpio.write("LED0", level)
  lg.info("BTN0 %s", level == 1 and "pressed" or "released")
end)

local busy = false
gpio.on("BTN1", "rising", function()
  if busy then return end -- a bounce of the press we are handling
  busy = true
  task.sleep(DEBOUNCE_MS)
  if gpio.read("BTN1") == 1 then
    lg.info("BTN1 pressed: LED1 %s", gpio.toggle("LED1") == 1 and "on" or "off")
  end
  busy = false
end)

lg.info("ready: press BTN0 or BTN1")
