-- The ILI9341 driver's bytes on the wire, on any board: bus 1 is in
-- loopback (the devkit's jumper, the MPS2 PL022's loopback mode), D/C is
-- LED1 (an output on both). Every write goes through the bus and must come
-- back unchanged; the command stream and the D/C level of each piece are
-- checked against the datasheet's sequence.
local ili9341 = require("ili9341")
local spi = require("spi")
local gpio = require("gpio")

-- An SPI device that records what the driver sends, through the real bus.
local function recorder()
  local dev = spi.setup(1, { cs = 0, mode = 0, speed = 10000000 })
  local r = { log = {}, bad = 0 }
  function r.write(_, s)
    local back = dev:transfer(s)
    if back ~= s then r.bad = r.bad + 1 end
    r.log[#r.log + 1] = { gpio.read("LED1"), s }
  end
  function r.transfer(_, s)
    local back = dev:transfer(s)
    r.log[#r.log + 1] = { gpio.read("LED1"), s }
    return back
  end
  return r
end

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- The log as "c:2a d:0000000a" words (c: command, d: data).
local function words(log, from)
  local t = {}
  for i = from or 1, #log do
    local e = log[i]
    t[#t + 1] = (e[1] == 0 and "c:" or "d:") .. (#e[2] <= 16 and hex(e[2]) or ("%d bytes"):format(#e[2]))
  end
  return table.concat(t, " ")
end

describe("ili9341 on the wire", function()
  -- (at definition: the board's test runner has no setup())
  local rec = recorder()
  local lcd = ili9341.new(1, 0, { dc = "LED1", spi = rec })

  it("starts with SWRESET, COLMOD 16 bit, MADCTL, SLPOUT, DISPON", function()
    assert.are.equal("c:01 c:3a d:55 c:36 d:00 c:11 c:29", words(rec.log))
    assert.are.equal(0, rec.bad)
  end)

  it("a rectangle: CASET, PASET, RAMWR, then its pixels", function()
    local n = #rec.log
    lcd:rect(10, 20, 3, 2, 0xF81F)
    assert.are.equal("c:2a d:000a000c c:2b d:00140015 c:2c d:f81ff81ff81ff81ff81ff81f",
      words(rec.log, n + 1))
    assert.are.equal(0, rec.bad)
  end)

  it("a full-screen fill: 153600 bytes in 4 KB pieces", function()
    local n = #rec.log
    lcd:fill(0x1234)
    local bytes = 0
    for i = n + 1, #rec.log do
      if rec.log[i][1] == 1 and #rec.log[i][2] > 8 then bytes = bytes + #rec.log[i][2] end
    end
    assert.are.equal(240 * 320 * 2, bytes)
    -- 37 pieces of 2048 pixels, then the last 1024
    assert.is_true(rec.log[#rec.log - 1][2] == string.rep("\x12\x34", 2048))
    assert.is_true(rec.log[#rec.log][2] == string.rep("\x12\x34", 1024))
    assert.are.equal(0, rec.bad)
  end)

  it("text: one window for the string, the font's bits as pixels", function()
    local n = #rec.log
    lcd:text(0, 0, "T", 0xFFFF, 0x0000)
    -- the window repeats: only the pixel rows follow RAMWR
    assert.are.equal("c:2a d:00000005 c:2b d:00000007 c:2c", words(rec.log, n + 1):match("^(.-c:2c)"))
    local top = rec.log[#rec.log - 7][2] -- row 0 of "T": five inked columns, then the gap
    assert.are.equal(string.rep("\xff\xff", 5) .. "\0\0", top)
    assert.are.equal(0, rec.bad)
  end)

  it("rotation and blit", function()
    local n = #rec.log
    lcd:set_rotation(1)
    lcd:blit(0, 0, 2, 1, "\1\2\3\4")
    assert.are.equal("c:36 d:60 c:2a d:00000001 c:2b d:00000000 c:2c d:01020304",
      words(rec.log, n + 1))
    lcd:set_rotation(0)
    assert.are.equal(0, rec.bad)
  end)
end)
