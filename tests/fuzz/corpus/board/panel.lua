return { name = "p", gpio = 8, spi = 1, parts = {
  { type = "led", name = "A", pin = 0, panel = { x = 0, y = 0, color = "#00ff00" } },
  { type = "led", name = "B", pin = 1, panel = { x = 4000, y = 4000, color = 0xFFFFFF } },
  { type = "button", name = "C", pin = 2, panel = { key = "z", color = "amber" } },
  { type = "bme280", name = "env", bus = 0, cs = 0, panel = { x = 10, y = 60 } },
} }
