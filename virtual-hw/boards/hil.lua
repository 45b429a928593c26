-- A real FT232H breakout (docs/hil.md): a BME280 on cs 0 (ADBUS3) and a
-- LIS3DH on cs 1 (ADBUS4) with INT1 on ADBUS5, an LED on ACBUS0 and a
-- button on ACBUS2. Set the serial number (luaos hil list) when several
-- adapters are attached: ftdi://0403:6014/SERIAL/1. Specs against the real
-- chips: luaos test --board hil tests/lua/sim/bme280_spec.lua (skipped with
-- a message when the adapter is not attached).
local A = "ftdi://0403:6014/1"
return {
  name = "hil",
  gpio = 16,
  spi = { [0] = { ftdi = A } },
  pins = {
    ACCEL_INT = { ftdi = A, pin = "ADBUS5" },
    LED0 = { ftdi = A, pin = "ACBUS0" },
    BTN0 = { ftdi = A, pin = "ACBUS2" },
  },
  parts = {
    -- On an adapter bus these name the chips that are really there (for
    -- `luaos hil check` and drivers); the models are not wired to anything.
    { type = "bme280", name = "env",   bus = 0, cs = 0 },
    { type = "lis3dh", name = "accel", bus = 0, cs = 1, irq = "ACCEL_INT" },
  },
}
