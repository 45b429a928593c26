-- HIL figures through the MPSSE emulator (docs/performance.md "## HIL").
-- Run by tools/bench-hil:  luaos run --board hil-emu bench/hil.lua
-- Prints key=value lines. USB counts and MPSSE bytes are exact (they are
-- what the backend sends); rates are this host's, through the whole path:
-- Lua, the HAL, the command batch, the emulated chip and the models.
local bench = require("bench")
local hil = require("hil")
local now = bench.now_ns

local function out(k, v) print(("%s=%s"):format(k, v)) end

-- Round trips and overhead of one 7-byte transaction (pyftdi issue 61's case):
-- a BME280 burst read of pressure and temperature (0xF7.., 1 + 6 bytes).
local env = spi.setup(0, { cs = 0, mode = 0, speed = 10000000 })
env:transfer("\xD0\0")
hil.stats_clear(0)
env:transfer("\xF7" .. string.rep("\0", 6))
local s = hil.stats(0)
out("round_trips_per_transfer", s.usb_writes .. " write + " .. s.usb_reads .. " read")
out("overhead_bytes_7B", s.bytes_out - 7)
hil.stats_clear(0)
env:write("\xF4\x27")
s = hil.stats(0)
out("round_trips_per_write", s.usb_writes .. " write + " .. s.usb_reads .. " read")
out("overhead_bytes_write", s.bytes_out - 2)
-- a new clock adds its commands once
spi.setup(0, { cs = 0, speed = 1000000 }):transfer("\xD0\0")
hil.stats_clear(0)
spi.setup(0, { cs = 0, speed = 5000000 }):transfer("\xD0\0")
out("overhead_bytes_clock_change", hil.stats(0).bytes_out - 2)
local big = spi.setup(0, { cs = 6, speed = 30000000 }) -- nobody there
big:transfer("\0")
hil.stats_clear(0)
big:transfer(string.rep("\0", 200000))
s = hil.stats(0)
out("overhead_bytes_200000B", s.bytes_out - 200000)
out("round_trips_200000B", s.usb_writes .. " write + " .. s.usb_reads .. " read")

-- Emulated rates (real time on this host).
local function rate(dev, tx, n)
  dev:transfer(tx)
  local t0 = now()
  for _ = 1, n do dev:transfer(tx) end
  local dt = (now() - t0) / 1e9
  return n / dt, n * #tx / dt
end
local tps = rate(env, "\xF7" .. string.rep("\0", 6), 20000)
out("emu_transactions_per_s_7B", ("%.0f"):format(tps))
out("emu_us_per_transaction_7B", ("%.2f"):format(1e6 / tps))
local _, bps = rate(big, string.rep("\0", 4096), 2000)
out("emu_MBps_4KiB", ("%.1f"):format(bps / 1e6))
_, bps = rate(big, string.rep("\0", 65536), 200)
out("emu_MBps_64KiB", ("%.1f"):format(bps / 1e6))
-- GPIO: a write is one USB write; a read one round trip
gpio.mode("LED0", "out")
hil.stats_clear(0)
gpio.write("LED0", 1)
gpio.write("LED0", 0)
gpio.read("BTN0")
s = hil.stats(0)
out("gpio_2writes_1read", ("%d USB writes + %d read, %d bytes out"):format(s.usb_writes,
    s.usb_reads, s.bytes_out))
