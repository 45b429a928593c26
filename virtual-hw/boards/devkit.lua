-- The default virtual board: one SPI bus with an environment sensor and an
-- accelerometer, two LEDs, two buttons and a switch; bus 1 has a loopback
-- jumper (as the firmware's PL022 in loopback mode) for SPI tests. The LED and button
-- numbering matches the MPS2 AN385 board (LED0/LED1 = pins 0/1,
-- BTN0/BTN1 = pins 2/3), so examples run unchanged on both. The ILI9341
-- display sits on bus 0 as on a TFT shield on the MPS2's shield header
-- (D/C and reset on shield GPIOs, the usual D9/D8).
return {
  name = "devkit",
  gpio = 16,
  spi = 2,
  pins = { ACCEL_INT = 8, LCD_DC = 9, LCD_RST = 10 },
  parts = {
    { type = "led",    name = "LED0", pin = 0 },
    { type = "led",    name = "LED1", pin = 1 },
    { type = "button", name = "BTN0", pin = 2 },
    { type = "button", name = "BTN1", pin = 3 },
    { type = "switch", name = "SW0",  pin = 4 },
    { type = "bme280", name = "env",   bus = 0, cs = 0 },
    { type = "lis3dh", name = "accel", bus = 0, cs = 1, irq = "ACCEL_INT" },
    { type = "ili9341", name = "lcd", bus = 0, cs = 2, dc = "LCD_DC", reset = "LCD_RST" },
    { type = "loopback", name = "loop", bus = 1, cs = 0 },
  },
}
