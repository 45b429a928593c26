-- The default virtual board: one SPI bus with an environment sensor and an
-- accelerometer, two LEDs, two buttons and a switch; bus 1 has a loopback
-- jumper (as the firmware's PL022 in loopback mode) for SPI tests. The LED and button
-- numbering matches the MPS2 AN385 board (LED0/LED1 = pins 0/1,
-- BTN0/BTN1 = pins 2/3), so examples run unchanged on both.
return {
  name = "devkit",
  gpio = 16,
  spi = 2,
  pins = { ACCEL_INT = 8 },
  parts = {
    { type = "led",    name = "LED0", pin = 0 },
    { type = "led",    name = "LED1", pin = 1 },
    { type = "button", name = "BTN0", pin = 2 },
    { type = "button", name = "BTN1", pin = 3 },
    { type = "switch", name = "SW0",  pin = 4 },
    { type = "bme280", name = "env",   bus = 0, cs = 0 },
    { type = "lis3dh", name = "accel", bus = 0, cs = 1, irq = "ACCEL_INT" },
    { type = "loopback", name = "loop", bus = 1, cs = 0 },
  },
}
