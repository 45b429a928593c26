-- The devkit's sensors behind an emulated FT232H (docs/hil.md): SPI bus 0
-- and the panel pins go through the libftdi backend's MPSSE command stream
-- to the MPSSE emulator, which drives the same virtual chip models. Specs
-- written for devkit run unchanged: luaos test --board hil-emu tests/lua/sim/bme280_spec.lua
local A = "emu://ft232h"
return {
  -- The devkit, wired through an adapter: specs quote the board's name in
  -- expected messages, and they must pass here unchanged.
  name = "devkit",
  gpio = 16,
  spi = {
    -- SK ADBUS0, DO ADBUS1, DI ADBUS2; chip selects on the pins the panel
    -- leaves free (the specs also probe cs 6 and 7, where nothing answers)
    [0] = { ftdi = A, cs = { [0] = "ADBUS3", [1] = "ADBUS4", [2] = "ADBUS6",
                             [6] = "ACBUS6", [7] = "ACBUS7" } },
    [1] = {},            -- a virtual bus: the loopback jumper
  },
  pins = {
    ACCEL_INT = { ftdi = A, pin = "ADBUS5" },
    LED0 = { ftdi = A, pin = "ACBUS0" },
    LED1 = { ftdi = A, pin = "ACBUS1" },
    BTN0 = { ftdi = A, pin = "ACBUS2" },
    BTN1 = { ftdi = A, pin = "ACBUS3" },
    SW0 = { ftdi = A, pin = "ACBUS4" },
    LCD_DC = { ftdi = A, pin = "ADBUS7" },
    LCD_RST = { ftdi = A, pin = "ACBUS5" },
  },
  parts = {
    { type = "led",    name = "LED0", pin = "LED0" },
    { type = "led",    name = "LED1", pin = "LED1" },
    { type = "button", name = "BTN0", pin = "BTN0" },
    { type = "button", name = "BTN1", pin = "BTN1" },
    { type = "switch", name = "SW0",  pin = "SW0" },
    { type = "bme280", name = "env",   bus = 0, cs = 0 },
    { type = "lis3dh", name = "accel", bus = 0, cs = 1, irq = "ACCEL_INT" },
    { type = "ili9341", name = "lcd", bus = 0, cs = 2, dc = "LCD_DC", reset = "LCD_RST" },
    { type = "loopback", name = "loop", bus = 1, cs = 0 },
  },
}
