-- Strict keys and types: typos, strings for numbers, lists with holes.
return {
  name = "strict", gpio = "16", spi = 2, pinz = {},
  pins = { A = 1, B = "2", [3] = 3 },
  parts = {
    { type = "led", name = "L", pin = "A", active_low = "yes", bus = 0 },
    { type = "bme208", name = "env", bus = 0, cs = 0, tempreature = 20 },
    { type = "lis3dh", name = "acc", bus = 1, cs = "1", irq = "ACCEL_IN", x = 0 / 0 },
    nil,
    { type = "loopback", name = "loop", bus = 1, cs = 0, lit = 1 },
    extra = { type = "led", name = "X", pin = 2 },
  },
}
