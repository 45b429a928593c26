-- One of each emulated chip (tests/lua/hil/chips_spec.lua): a BME280 behind
-- the legacy FT2232D, interface B of an FT2232H, an FT4232H with a pin only.
return {
  name = "hil-chips",
  gpio = 8,
  spi = {
    [0] = { ftdi = "emu://ft2232d" },
    [1] = { ftdi = "emu://ft2232h/2" },
  },
  pins = {
    B_LED = { ftdi = "emu://ft2232h/2", pin = "BCBUS7" },
    Q_PIN = { ftdi = "emu://ft4232h/1", pin = "ADBUS7" },
  },
  parts = {
    { type = "bme280", name = "env_d", bus = 0, cs = 0 },
    { type = "lis3dh", name = "accel_b", bus = 1, cs = 1 },
    { type = "led", name = "LEDB", pin = "B_LED" },
  },
}
