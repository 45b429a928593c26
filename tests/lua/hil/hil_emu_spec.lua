-- luaos: board=hil-emu
-- The FTDI backend against the MPSSE emulator (docs/hil.md): the exact
-- command stream of a transfer, USB round trips, clocks, modes, GPIO,
-- edges by polling, and the failures of real adapters.
local hil = require("hil")
local sim = require("sim")
local task = require("task")

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x "):format(c:byte()) end)):sub(1, -2)
end

describe("hil over emu://ft232h", function()
  before_each(function()
    hil.fault(0, nil)
    hil.close(0) -- closed: the next use opens it again, clock unknown
    hil.stats_clear(0)
  end)

  it("lists the board's adapter", function()
    local a = hil.adapters()
    assert.are.equal(1, #a)
    assert.are.same({ url = "emu://ft232h", chip = "FT232H", emulated = true, open = false }, a[1])
    assert.are.equal("1.0", hil._VERSION)
    assert.are.equal(1000, hil.poll_us)
  end)

  it("opens with the AN_135 synchronisation, then sets the engine up", function()
    hil.capture_clear(0)
    spi.setup(0, { cs = 0, mode = 0, speed = 1000000 })
    local c = hil.capture(0)
    -- bad opcode 0xAA (answered FA AA), loopback off, adaptive clocking
    -- off, three-phase off, low pins: CS ADBUS3/4/6 high outputs, SK DO
    -- outputs, DI input; then the high byte
    assert.are.equal("aa 85 97 8d 80 58 5b 82", hex(c:sub(1, 8)))
    local s = hil.stats(0)
    assert.are.equal(1, s.opens)
    assert.are.equal(1, s.bad_opcodes) -- the sync byte
  end)

  it("sends the exact MPSSE stream for a known transfer", function()
    local dev = spi.setup(0, { cs = 0, mode = 0, speed = 1000000 })
    hil.capture_clear(0)
    local rx = dev:transfer("\xD0\0")
    assert.are.equal("\x60", rx:sub(2)) -- the BME280's id
    -- 60 MHz clock (no /5), divisor 29: 30 MHz / 30 = 1 MHz; CS low twice
    -- (setup), 0x31 = out on falling / in on rising edge, 2 bytes; CS high;
    -- send immediate
    assert.are.equal("8a 86 1d 00 80 50 5b 80 50 5b 31 01 00 d0 00 80 58 5b 87",
                     hex(hil.capture(0)))
    hil.capture_clear(0)
    dev:transfer("\xD0\0") -- same clock: not sent again
    assert.are.equal("80 50 5b 80 50 5b 31 01 00 d0 00 80 58 5b 87", hex(hil.capture(0)))
    assert.are.equal(1e6, hil.stats(0).clock_hz)
  end)

  it("takes one USB write and one read per spi.transfer, none for a write", function()
    local dev = spi.setup(0, { cs = 0, mode = 0, speed = 1000000 })
    hil.stats_clear(0)
    dev:transfer("\xD0\0")
    local s = hil.stats(0)
    assert.are.equal(1, s.transactions)
    assert.are.equal(1, s.usb_writes)
    assert.are.equal(1, s.usb_reads)
    assert.are.equal(0, s.latency_waits) -- 0x87 ends it: no latency timer wait
    dev:write("\x74\x00")
    s = hil.stats(0)
    assert.are.equal(2, s.usb_writes)
    assert.are.equal(1, s.usb_reads)
    for _ = 1, 10 do dev:read(8) end
    s = hil.stats(0)
    assert.are.equal(12, s.transactions)
    assert.are.equal(12, s.usb_writes)
    assert.are.equal(11, s.usb_reads)
  end)

  it("a whole driver read is one round trip per transaction", function()
    local bme = require("bme280").new(0, 0)
    hil.stats_clear(0)
    bme:read()
    local s = hil.stats(0)
    assert.is_true(s.transactions >= 2)
    assert.are.equal(s.transactions, s.usb_writes)
    assert.is_true(s.usb_reads <= s.transactions)
  end)

  it("chunks transfers beyond 65536 bytes into one write and one read", function()
    local dev = spi.setup(0, { cs = 6, speed = 30000000 }) -- ACBUS6: nobody there
    hil.stats_clear(0)
    hil.capture_clear(0)
    local rx = dev:transfer(string.rep("\0", 70000))
    assert.are.equal(string.rep("\255", 70000), rx)
    local c = hil.capture(0)
    -- after the clock (4) and CS low twice (0x82: ACBUS6)
    assert.are.equal("82 00", hex(c:sub(5, 6)))
    assert.are.equal("31 ff ff", hex(c:sub(11, 13)))
    assert.are.equal("31 6f 11", hex(c:sub(14 + 65536, 16 + 65536))) -- 4464 more
    assert.are.equal(16 + 65536 + 4464 + 3 + 1, #c) -- CS high, send immediate
    local s = hil.stats(0)
    assert.are.equal(1, s.usb_writes)
    assert.are.equal(1, s.usb_reads)
    assert.are.equal(70000, s.bytes_in)
  end)

  it("loopback (0x84) returns what was sent", function()
    local dev = spi.setup(0, { cs = 6, speed = 6000000 })
    dev:read(1)
    hil.raw(0, "\x84")
    local data = ""
    for i = 0, 255 do data = data .. string.char(i) end
    assert.are.equal(data, dev:transfer(data))
    hil.raw(0, "\x85")
    assert.are.equal("\255\255", dev:transfer("ab"))
  end)

  it("picks the highest clock not above the request", function()
    local cases = {
      { 30000000, 30000000 }, { 40000000, 30000000 }, { 10000000, 10000000 },
      { 7000000, 6000000 }, { 1000000, 1000000 }, { 999999, 30000000 / 31 },
      { 500, 500 }, { 100, 100 }, { 92, 6000000 / 65218 },
    }
    for _, c in ipairs(cases) do
      local dev = spi.setup(0, { cs = 6, speed = c[1] })
      dev:read(1)
      local hz = hil.stats(0).clock_hz
      assert.is_true(hz <= c[1], c[1])
      assert.is_near(c[2], hz, 1e-6 * c[2])
    end
    assert.error_matches(function() spi.setup(0, { cs = 6, speed = 91 }) end,
      "spi.setup bus 0: FTDI adapter emu://ft232h: the FT232H clocks SPI at 91 Hz at the slowest",
      nil, true)
  end)

  it("modes 0 and 3 reach the chips; 1 and 2 garble as a real chip would", function()
    for mode, good in pairs({ [0] = true, [1] = false, [2] = false, [3] = true }) do
      local dev = spi.setup(0, { cs = 0, mode = mode, speed = 1000000 })
      hil.stats_clear(0)
      local id = dev:transfer("\xD0\0"):byte(2)
      assert.are.equal(good, id == 0x60, "mode " .. mode)
      assert.are.equal(good and 0 or 2, hil.stats(0).garbled, "mode " .. mode)
    end
    -- mode 3: SK idles high before CS goes low, 0x31 as in mode 0
    local dev = spi.setup(0, { cs = 0, mode = 3, speed = 1000000 })
    dev:read(1)
    hil.capture_clear(0)
    dev:transfer("\xD0\0")
    local c = hil.capture(0)
    assert.are.equal("80 80 31 01 00 d0 00 80 87", hex(c:sub(1, 1) .. c:sub(4, 4) .. c:sub(7, 12) ..
                                                   c:sub(15, 15)))
    assert.are.equal(1, c:byte(2) & 1)  -- SK idles high
    assert.are.equal(0, c:byte(2) & 8)  -- CS (ADBUS3) low
    assert.are.equal(8, c:byte(13) & 8) -- CS high again
    -- mode 1: 0x34 (out on rising, in on falling edge), SK idle low
    dev = spi.setup(0, { cs = 0, mode = 1, speed = 1000000 })
    dev:read(1)
    hil.capture_clear(0)
    dev:transfer("\xD0\0")
    assert.are.equal("34 01 00 d0 00", hex(hil.capture(0):sub(7, 11)))
  end)

  it("a clock above the chip's 10 MHz garbles", function()
    local dev = spi.setup(0, { cs = 0, speed = 30000000 })
    assert.are_not.equal(0x60, dev:transfer("\xD0\0"):byte(2))
    assert.is_true(hil.stats(0).garbled > 0)
  end)

  it("answers a bad opcode with 0xFA and the opcode", function()
    spi.setup(0, { cs = 0 })
    assert.are.equal("\xFA\xAB", hil.raw(0, "\xAB\x87", 2))
    assert.are.equal("\xFA\x00\xFA\x40", hil.raw(0, "\x00\x40\x87", 4))
    -- pin reads: ADBUS3/4/6 (chip selects) high, ADBUS5 as sim sees ACCEL_INT
    local lo = hil.raw(0, "\x81\x87", 1):byte()
    assert.are.equal(0x58, lo & 0x58)
    assert.are.equal(sim.pin("ACCEL_INT"), (lo >> 5) & 1)
  end)

  it("answers nobody asked for are an error, and the next use is in step again", function()
    local dev = spi.setup(0, { cs = 0 })
    assert.error_matches(function() hil.raw(0, "\x81\x81\x81\x87", 1) end,
                         "hil.raw: the adapter answered 2 byte(s) more than the 1 expected", nil,
                         true)
    assert.are.equal(0x60, dev:transfer("\xD0\0"):byte(2))
  end)

  it("a wait that never ends times out with an error, no hang", function()
    spi.setup(0, { cs = 0 })
    -- 0x88/0x89: wait until GPIOL1 (ADBUS5) is high/low: the level it is not
    local wait = sim.pin("ACCEL_INT") == 1 and "\x89" or "\x88"
    assert.error_matches(function() hil.raw(0, wait .. "\x81\x87", 1) end,
                         "hil.raw: the adapter answered 0 of 1 bytes", nil, true)
    local dev = spi.setup(0, { cs = 0 }) -- reopened, synchronised
    assert.are.equal(0x60, dev:transfer("\xD0\0"):byte(2))
  end)

  describe("GPIO", function()
    it("writes that set and clear, read back on the wire and in the chip", function()
      gpio.mode("LED0", "out")
      gpio.write("LED0", 1)
      assert.are.equal(1, sim.pin("LED0"))
      assert.are.equal(1, sim.part("LED0"):get("lit"))
      local v, dir = hil.pins(0)
      assert.are.equal(0x100, v & 0x100)   -- ACBUS0 high
      assert.are.equal(0x100, dir & 0x100) -- and an output
      gpio.write("LED0", 0)
      assert.are.equal(0, sim.pin("LED0"))
      v = hil.pins(0)
      assert.are.equal(0, v & 0x100)
      assert.are.equal(1, gpio.toggle("LED0"))
      assert.are.equal(1, sim.pin("LED0"))
      gpio.mode("LED0", "in")
      local _, d2 = hil.pins(0)
      assert.are.equal(0, d2 & 0x100)
    end)

    it("reads inputs through the adapter (pull-ups; no pull-downs)", function()
      gpio.mode("BTN0", "in")
      hil.stats_clear(0)
      assert.are.equal(0, gpio.read("BTN0")) -- the button drives low when released
      assert.are.equal(1, hil.stats(0).usb_reads)
      sim.press("BTN0")
      assert.are.equal(1, gpio.read("BTN0"))
      sim.release("BTN0")
      assert.are.equal(0, gpio.read("BTN0"))
      assert.error_matches(function() gpio.mode("BTN0", "in_pulldown") end,
        "gpio pin %d+: ACBUS2 of FTDI adapter emu://ft232h has no pull%-down")
      gpio.mode("BTN0", "in_pullup")
    end)

    it("open drain drives low and lets go", function()
      gpio.mode("LED1", "open_drain")
      gpio.write("LED1", 0)
      assert.are.equal(0, sim.pin("LED1"))
      gpio.write("LED1", 1)
      assert.are.equal(1, sim.pin("LED1")) -- released: the pull-up
      local _, dir = hil.pins(0)
      assert.are.equal(0, dir & 0x200)
    end)

    it("edge callbacks come from polling at hil.poll_us", function()
      gpio.mode("BTN1", "in")
      local seen = {}
      local t0 = sys.uptime()
      gpio.on("BTN1", "both", function(_, level, t) seen[#seen + 1] = { level, t - t0 } end)
      task.sleep(10)
      sim.press("BTN1")
      task.sleep(10)
      sim.release("BTN1")
      task.sleep(10)
      gpio.off("BTN1")
      assert.are.equal(2, #seen)
      assert.are.equal(1, seen[1][1])
      assert.are.equal(0, seen[2][1])
      assert.is_true(seen[1][2] >= 10 and seen[1][2] <= 11 + 1e-9, seen[1][2])
      assert.is_true(seen[2][2] >= 20 and seen[2][2] <= 21 + 1e-9, seen[2][2])
    end)

    it("edges resume after the adapter was unplugged and came back", function()
      gpio.mode("BTN1", "in")
      local seen = 0
      gpio.on("BTN1", "rising", function() seen = seen + 1 end)
      hil.fault(0, "unplug")
      assert.has_error(function() gpio.mode("LED0", "out") end) -- the write that finds it gone
      task.sleep(20)
      sim.press("BTN1")
      task.sleep(20)
      sim.release("BTN1")
      assert.are.equal(0, seen) -- nobody to ask
      hil.fault(0, nil)
      task.sleep(150)          -- the next poll after the back-off opens it again
      sim.press("BTN1")
      task.sleep(5)
      sim.release("BTN1")
      task.sleep(5)
      gpio.off("BTN1")
      assert.are.equal(1, seen)
    end)

    it("a chip select without an adapter pin is an error", function()
      -- the board maps cs 0, 1, 2, 6, 7
      assert.error_matches(function() spi.setup(0, { cs = 3 }) end,
        "spi.setup bus 0: FTDI adapter emu://ft232h: no adapter pin for chip select 3 (map it " ..
        "in the board file: spi[0].cs)", nil, true)
    end)
  end)

  describe("failures of a real adapter", function()
    it("unplugged mid-transfer: a clear error, then absent until replugged", function()
      local dev = spi.setup(0, { cs = 0 })
      hil.fault(0, "unplug")
      assert.error_matches(function() dev:transfer("\xD0\0") end,
        "spi bus 0 transfer: FTDI adapter emu://ft232h: unplugged (USB write failed after", nil,
        true)
      assert.error_matches(function() dev:transfer("\xD0\0") end,
        "no adapter 0403:6014 attached", nil, true)
      assert.error_matches(function() gpio.read("BTN0") end, "no adapter 0403:6014 attached",
                           nil, true)
      hil.fault(0, nil) -- plugged back in: opened and set up again
      assert.are.equal(0x60, dev:transfer("\xD0\0"):byte(2))
      assert.are.equal(2, hil.stats(0).opens)
    end)

    it("wrong VID/PID, permission denied, ftdi_sio bound", function()
      local cases = {
        ["wrong-id"] = "no adapter 0403:6014 attached; the FTDI device there is 0403:6001, an " ..
                       "FT232R without an MPSSE",
        permission = "permission denied on USB device 001/004 (install the udev rule of " ..
                     "docs/hil.md, then replug)",
        ftdi_sio = "interface 1 is held by the kernel's ftdi_sio driver or another program " ..
                   "(unbind it: docs/hil.md)",
        absent = "no adapter 0403:6014 attached (luaos hil list shows what is)",
      }
      for fault, msg in pairs(cases) do
        hil.close(0)
        hil.fault(0, fault)
        assert.error_matches(function() spi.setup(0, { cs = 0 }) end,
                             "spi.setup bus 0: FTDI adapter emu://ft232h: " .. msg, nil, true)
        assert.error_matches(function() gpio.mode("LED0", "out") end, msg, nil, true)
      end
      hil.fault(0, nil)
      assert.has_no.errors(function() spi.setup(0, { cs = 0 }) end)
    end)

    it("pins are left as inputs when the adapter is closed", function()
      gpio.mode("LED0", "out")
      gpio.write("LED0", 1)
      hil.capture_clear(0)
      hil.close(0)
      assert.are.equal("80 00 00 82 00 00", hex(hil.capture(0)))
      local v, dir, on = hil.pins(0)
      assert.are.same({ 0, 0, false }, { v, dir, on })
      assert.are.equal(1, sim.pin("LED0")) -- nobody drives: the input pull-up
      gpio.write("LED0", 0) -- reopened with the pins as the app left them
      assert.are.equal(0, sim.pin("LED0"))
      assert.are.equal(0x100, select(2, hil.pins(0)) & 0x100)
    end)
  end)

  it("checks its arguments", function()
    assert.error_matches(function() hil.stats("emu://ft2232h") end,
      "bad argument #1 to 'hil.stats' (no adapter 'emu://ft2232h' on this board; did you mean " ..
      "'emu://ft232h'?)", nil, true)
    assert.error_matches(function() hil.stats(1) end, "SPI bus 1 is not on an adapter", nil, true)
    assert.error_matches(function() hil.stats({}) end, "adapter URL or bus number expected")
    assert.error_matches(function() hil.fault(0, "unplugged") end,
                         "unknown fault 'unplugged'; did you mean 'unplug'?", nil, true)
    assert.error_matches(function() hil.raw(0, "", 0) end, "1 byte .. 1 MiB of commands")
    assert.error_matches(function() hil.raw(0, "\x87", -1) end, "length must be 0..65536")
    assert.error_matches(function() hil.raw(0, "\x87", "x") end,
                         "bad argument #3 to 'hil.raw' (number expected, got string)", nil, true)
    assert.error_matches(function() hil.raw(0, {}) end, "bad argument #2 to 'hil.raw'", nil, true)
    assert.error_matches(function() hil.stats(0.5) end, "bad argument #1 to 'hil.stats'", nil, true)
    assert.error_matches(function() hil.pins("emu://nope") end, "no adapter 'emu://nope'", nil, true)
  end)
end)
