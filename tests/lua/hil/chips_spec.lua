-- luaos: board=boards/chips.lua
-- The chips' differences as the emulator models them (AN_108): the
-- FT2232D's 6 MHz and missing H-series opcodes, interface B pin names,
-- the FT4232H without ACBUS; and bit-mode shifts.
local hil = require("hil")
local sim = require("sim")

describe("emulated FTDI chips", function()
  it("numbers adapter pins in name order", function()
    assert.are.equal(0, gpio.pin("B_LED"))
    assert.are.equal(1, gpio.pin("Q_PIN"))
    local urls = {}
    for _, a in ipairs(hil.adapters()) do urls[#urls + 1] = a.url .. " " .. a.chip end
    table.sort(urls)
    assert.are.same({ "emu://ft2232d FT2232D", "emu://ft2232h/2 FT2232H", "emu://ft4232h/1 FT4232H" },
                    urls)
  end)

  it("FT2232D: 6 MHz at most, no prescaler opcodes, the driver still works", function()
    local dev = spi.setup(0, { cs = 0, speed = 30000000 })
    hil.capture_clear(0)
    assert.are.equal(0x60, dev:transfer("\xD0\0"):byte(2))
    assert.are.equal(6000000, hil.stats(0).clock_hz)
    -- no 0x8A before the divisor on the legacy chip
    assert.are.equal("\x86\0\0", hil.capture(0):sub(1, 3))
    assert.are.equal("\xFA\x8A\xFA\x8B\xFA\x97", hil.raw(0, "\x8A\x8B\x97\x87", 6))
    assert.are.equal(0, hil.stats(0).garbled)
    local bme = require("bme280").new(0, 0)
    sim.part("env_d"):set{ temperature = 30 }
    assert.is_near(30, bme:read().temperature, 0.02)
    assert.error_matches(function() spi.setup(0, { cs = 0, speed = 91 }) end,
                         "the FT2232D clocks SPI at 91 Hz at the slowest", nil, true)
  end)

  it("FT2232H interface B: BDBUS/BCBUS pins, its own engine", function()
    local a = require("lis3dh").new(1, 1)
    assert.are.equal("lis3dh(bus 1, cs 1, +-2g, 100 Hz, normal)", tostring(a))
    gpio.mode("B_LED", "out")
    gpio.write("B_LED", 1)
    assert.are.equal(1, sim.part("LEDB"):get("lit"))
    local v = hil.pins(1)
    assert.are.equal(0x8000, v & 0x8000)
  end)

  it("FT4232H: low byte only", function()
    gpio.mode("Q_PIN", "out")
    gpio.write("Q_PIN", 1)
    assert.are.equal(1, sim.pin("Q_PIN"))
    gpio.write("Q_PIN", 0)
    assert.are.equal(0, sim.pin("Q_PIN"))
    gpio.mode("Q_PIN", "in")
    assert.are.equal(1, gpio.read("Q_PIN")) -- pull-up
    -- pin reads: one byte only; 0x83 answers all ones
    assert.are.equal("\xFF", hil.raw("emu://ft4232h/1", "\x83\x87", 1))
  end)

  it("bit-mode shifts reach the chip a byte at a time", function()
    spi.setup(1, { cs = 1, speed = 1000000 }):read(1)
    -- CS (cs 1 = ADBUS4) low, WHO_AM_I read 0x8F in two 4-bit halves,
    -- then 8 bits in (0x22, bits on the rising edge), CS high
    local low = "\x80\x08\x1B"
    local r = hil.raw(1, low .. "\x13\x03\x80" .. "\x13\x03\xF0" .. "\x22\x07" .. "\x80\x18\x1B\x87",
                      1)
    assert.are.equal(0x33, r:byte())
    -- 0x33: read 4 bits while writing them; the byte completes at once
    r = hil.raw(1, low .. "\x33\x07\x8F" .. "\x33\x07\x00" .. "\x80\x18\x1B\x87", 2)
    assert.are.equal(0x33, r:byte(2))
  end)
end)
