-- Ten hours of device time in 10 ms steps, an LED toggled at each
-- (tools/bench-window: a virtual-time run with and without the window).
gpio.mode("LED0", "out")
for i = 1, 3600000 do
  gpio.write("LED0", i % 2)
  task.sleep(10)
end
print("done")
