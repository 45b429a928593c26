-- The ILI9341 driver (lua/ili9341.lua) on the default board's display
-- "lcd" (bus 0, cs 2, D/C LCD_DC, reset LCD_RST): what it draws, checked
-- pixel by pixel in the model's frame buffer (sim.display_pixels), and its
-- argument checks.
local ili9341 = require("ili9341")
local font = require("font5x7")
local sim = require("sim")

local W, H = 240, 320

-- Pixels of the glass region as a table of RGB565 integers, row-major.
local function region(x, y, w, h)
  local _, _, s = sim.display_pixels("lcd", x, y, w, h)
  local t = {}
  for i = 1, w * h do t[i] = string.unpack("<I2", s, 2 * i - 1) end
  return t
end

local function px(x, y) return region(x, y, 1, 1)[1] end

local function count(color)
  local _, _, s = sim.display_pixels("lcd")
  local c, pat = 0, string.pack("<I2", color)
  for i = 1, #s, 2 do
    if s:sub(i, i + 1) == pat then c = c + 1 end
  end
  return c
end

describe("ili9341 driver", function()
  local lcd

  setup(function()
    lcd = ili9341.new(0, 2, { dc = "LCD_DC", reset = "LCD_RST" })
  end)

  before_each(function()
    if lcd.rotation ~= 0 then lcd:set_rotation(0) end
  end)

  it("starts the chip by the datasheet: no timing violation, display on, id 0x9341", function()
    assert.are.equal(0, sim.part("lcd"):get("violations"))
    assert.are.equal(1, sim.part("lcd"):get("on"))
    assert.are.equal(0x9341, lcd:read_id())
    assert.are.equal("ili9341(bus 0, cs 2, 240x320, rotation 0)", tostring(lcd))
    assert.are.equal("1.0", ili9341._VERSION)
  end)

  it("fill: every pixel", function()
    lcd:fill(0x1234)
    local _, _, s = sim.display_pixels("lcd")
    assert.are.equal(string.rep("\x34\x12", W * H), s)
  end)

  it("rect, hline, vline and pixel: exactly their pixels", function()
    lcd:fill(0)
    lcd:rect(10, 20, 3, 2, ili9341.RED)
    assert.are.same({ 0, 0, 0, 0, 0,
                      0, 0xF800, 0xF800, 0xF800, 0,
                      0, 0xF800, 0xF800, 0xF800, 0,
                      0, 0, 0, 0, 0 }, region(9, 19, 5, 4))
    lcd:hline(0, 100, 240, ili9341.GREEN)
    lcd:vline(50, 0, 320, ili9341.BLUE)
    lcd:pixel(239, 319, ili9341.WHITE)
    assert.are.equal(6 + 240 + 319 + 1, W * H - count(0))
    assert.are.equal(0x07E0, px(0, 100))
    assert.are.equal(0x001F, px(50, 100)) -- the vline was drawn last
    assert.are.equal(0xFFFF, px(239, 319))
  end)

  it("clips to the screen", function()
    lcd:fill(0)
    lcd:rect(-5, -5, 10, 10, 0xFFFF) -- 5x5 remain
    lcd:rect(235, 315, 100, 100, 0xFFFF) -- 5x5 remain
    lcd:rect(300, 10, 5, 5, 0xFFFF) -- nothing
    lcd:pixel(-1, 0, 0xFFFF)
    lcd:pixel(240, 0, 0xFFFF)
    lcd:hline(-10, 50, 5, 0xFFFF)
    assert.are.equal(50, count(0xFFFF))
    assert.are.equal(0xFFFF, px(4, 4))
    assert.are.equal(0, px(5, 5))
    assert.are.equal(0xFFFF, px(235, 315))
  end)

  it("blit: a buffer string lands row by row", function()
    lcd:fill(0)
    local img = {}
    for i = 1, 12 do img[i] = string.pack(">I2", i * 0x1111) end
    lcd:blit(100, 200, 4, 3, table.concat(img))
    local want = {}
    for i = 1, 12 do want[i] = i * 0x1111 & 0xFFFF end
    assert.are.same(want, region(100, 200, 4, 3))
    assert.are.equal(0, px(104, 200))
  end)

  it("text: the font's bits, 6x8 cells, scaled", function()
    lcd:fill(ili9341.BLUE)
    local after = lcd:text(10, 10, "A1", ili9341.WHITE, ili9341.BLACK)
    assert.are.equal(22, after)
    local cells = region(10, 10, 12, 8)
    for ci, ch in ipairs({ "A", "1" }) do
      local base = 5 * (ch:byte() - 32)
      for r = 0, 7 do
        for c = 0, 5 do
          local bit = r < 7 and c < 5 and (font.data:byte(base + c + 1) >> r) & 1 == 1
          local got = cells[r * 12 + (ci - 1) * 6 + c + 1]
          assert.are.equal(bit and 0xFFFF or 0x0000, got, ("%s at %d,%d"):format(ch, c, r))
        end
      end
    end
    -- scale 3: each font pixel is a 3x3 block
    lcd:fill(0)
    assert.are.equal(18, lcd:text(0, 0, "|", 0xFFFF, 0, 3))
    local ink = 0
    for r = 0, 23 do
      for c = 0, 17 do
        if px(c, r) == 0xFFFF then ink = ink + 1 end
      end
    end
    local bits = 0
    for col = 1, 5 do
      local b = font.data:byte(5 * (("|"):byte() - 32) + col)
      for r = 0, 6 do bits = bits + ((b >> r) & 1) end
    end
    assert.are.equal(bits * 9, ink)
    assert.are.equal(ink, count(0xFFFF))
  end)

  it("text: characters off the screen are left out, others shown as '?'", function()
    lcd:fill(0)
    assert.are.equal(240, lcd:text(0, 0, ("W"):rep(50), 0xFFFF)) -- 40 fit
    assert.are.equal(0, px(239, 0) == 0xFFFF and 1 or 0) -- the cell's gap column
    assert.are.equal(5, lcd:text(5, 316, "x", 0xFFFF)) -- no room below: nothing
    lcd:fill(0)
    lcd:text(0, 0, "\1", 0xFFFF)
    local q = region(0, 0, 6, 8)
    lcd:fill(0)
    lcd:text(0, 0, "?", 0xFFFF)
    assert.are.same(q, region(0, 0, 6, 8))
    assert.are.equal(36, ili9341.text_width("abc", 2))
  end)

  it("rotation 1: landscape, (0, 0) at the glass's top right", function()
    lcd:fill(0)
    lcd:set_rotation(1)
    assert.are.equal(320, lcd.width)
    assert.are.equal(240, lcd.height)
    lcd:pixel(0, 0, 0xAAAA)
    lcd:pixel(319, 0, 0xBBBB)
    lcd:rect(0, 239, 2, 1, 0xCCCC)
    assert.are.equal(0xAAAA, px(239, 0))
    assert.are.equal(0xBBBB, px(239, 319))
    assert.are.equal(0xCCCC, px(0, 0))
    assert.are.equal(0xCCCC, px(0, 1))
    lcd:set_rotation(2)
    lcd:pixel(0, 0, 0xDDDD)
    assert.are.equal(0xDDDD, px(239, 319))
    lcd:set_rotation(3)
    lcd:pixel(0, 0, 0xEEEE)
    assert.are.equal(0xEEEE, px(0, 319))
  end)

  it("invert, display off/on, sleep keep the picture", function()
    lcd:fill(0x00FF)
    lcd:invert(true)
    assert.are.equal(0xFF00, px(0, 0))
    lcd:invert(false)
    lcd:display(false)
    assert.are.equal(0, sim.part("lcd"):get("on"))
    lcd:display(true)
    lcd:sleep(true)
    assert.are.equal(1, sim.part("lcd"):get("sleeping"))
    lcd:sleep(false)
    assert.are.equal(0, sim.part("lcd"):get("sleeping"))
    assert.are.equal(0x00FF, px(0, 0))
    assert.are.equal(0, sim.part("lcd"):get("violations"))
  end)

  it("vertical scrolling: the glass shows the scroll area from a line on", function()
    lcd:fill(0)
    for y = 0, 319 do lcd:pixel(0, y, y) end -- each row's first pixel: its number
    lcd:scroll_area(10, 20) -- rows 10..299 scroll
    lcd:scroll(5)
    assert.are.equal(9, px(0, 9)) -- fixed top
    assert.are.equal(15, px(0, 10))
    assert.are.equal(299, px(0, 294))
    assert.are.equal(10, px(0, 295)) -- wrapped
    assert.are.equal(300, px(0, 300)) -- fixed bottom
    lcd:scroll(-1)
    assert.are.equal(299, px(0, 10))
    lcd:scroll(nil)
    assert.are.equal(10, px(0, 10))
    assert.are.equal(0, sim.part("lcd"):get("violations"))
  end)

  it("without a reset pin: SWRESET", function()
    local l2 = ili9341.new(0, 2, { dc = "LCD_DC", rotation = 1 })
    assert.are.equal(320, l2.width)
    assert.are.equal(0x60, sim.part("lcd"):get("madctl"))
    assert.are.equal(0, sim.part("lcd"):get("violations"))
    lcd = ili9341.new(0, 2, { dc = "LCD_DC", reset = "LCD_RST" })
  end)

  it("a chip that is not there reads id 0xffff", function()
    sim.fault("lcd", "disconnect")
    assert.are.equal(0xFFFF, lcd:read_id())
    sim.fault("lcd", nil)
  end)

  it("rgb", function()
    assert.are.equal(0xFFFF, ili9341.rgb(255, 255, 255))
    assert.are.equal(0xF800, ili9341.rgb(255, 0, 0))
    assert.are.equal(0x0410, ili9341.rgb(0, 128, 128))
  end)

  it("checks its arguments", function()
    local function err(pat, f, ...)
      local ok, e = pcall(f, ...)
      assert.is_false(ok)
      assert.matches(pat, e, 1, true)
    end
    err("ili9341.new: bad argument #1 'bus' (integer expected, got string)", ili9341.new, "0", 2, {})
    err("ili9341.new: bad argument #2 'cs' (300 out of range 0..255)", ili9341.new, 0, 300, {})
    err("ili9341.new: bad argument #3 'opts' (option 'dc' is required: the D/C pin)",
        ili9341.new, 0, 2, {})
    err("ili9341.new: bad argument #3 'opts' (option 'dc' is required: the D/C pin)",
        ili9341.new, 0, 2)
    err("ili9341.new: bad argument #3 'opts' (unknown option 'rotaton'; did you mean 'rotation'?)",
        ili9341.new, 0, 2, { dc = 9, rotaton = 1 })
    err("ili9341.new: bad option 'dc' (no pin named 'NOPE'", ili9341.new, 0, 2, { dc = "NOPE" })
    err("ili9341.new: bad option 'dc' (pin number or name expected, got true)",
        ili9341.new, 0, 2, { dc = true })
    err("ili9341.new: bad option 'dc' (", ili9341.new, 0, 2, { dc = 99 })
    err("ili9341.new: bad option 'reset' (the same pin as 'dc')", ili9341.new, 0, 2,
        { dc = 9, reset = 9 })
    err("ili9341.new: bad option 'speed' (expected an integer 1..10000000 Hz, got 20000000)",
        ili9341.new, 0, 2, { dc = 9, speed = 20000000 })
    err("ili9341.new: bad option 'rotation' (expected 0, 1, 2 or 3, got 4)", ili9341.new, 0, 2,
        { dc = 9, rotation = 4 })
    err("ili9341.new: bad option 'speed' (number expected, got string '1')", ili9341.new, 0, 2,
        { dc = 9, speed = "1" })
    err("ili9341.new: bad option 'spi' (an SPI device expected, got number)", ili9341.new, 0, 2,
        { dc = 9, spi = 1 })
    err("ili9341.new: bad option 'spi' (needs write and transfer methods)", ili9341.new, 0, 2,
        { dc = 9, spi = {} })
    err("ili9341.rect: bad argument #5 'color' (65536 out of range 0..65535)",
        lcd.rect, lcd, 0, 0, 1, 1, 0x10000)
    err("ili9341.rect: bad argument #3 'w' (-1 out of range 0..32767)", lcd.rect, lcd, 0, 0, -1, 1, 0)
    err("ili9341.rect: bad argument #1 'x' (integer expected, got float)", lcd.rect, lcd, 0.5, 0, 1, 1, 0)
    err("ili9341.fill: bad argument #1 'color' (integer expected, got nil)", lcd.fill, lcd)
    err("ili9341.pixel: bad argument #2 'y' (integer expected, got string)", lcd.pixel, lcd, 0, "0", 0)
    err("ili9341.blit: bad argument #5 'data' (3 bytes for 1x1 pixels, expected 2)",
        lcd.blit, lcd, 0, 0, 1, 1, "abc")
    err("ili9341.blit: bad argument #3 'w' (2 out of range 1..1)", lcd.blit, lcd, 239, 0, 2, 1, "abcd")
    err("ili9341.blit: bad argument #5 'data' (string expected, got table)",
        lcd.blit, lcd, 0, 0, 1, 1, {})
    err("ili9341.text: bad argument #3 's' (string expected, got table)", lcd.text, lcd, 0, 0, {}, 0)
    err("ili9341.text: bad argument #6 'scale' (0 out of range 1..16)", lcd.text, lcd, 0, 0, "a", 0, 0, 0)
    err("ili9341.text: bad argument #5 'bg' (integer expected, got string)",
        lcd.text, lcd, 0, 0, "a", 0, "x")
    err("ili9341.set_rotation: bad argument #1 'rotation' (5 out of range 0..3)", lcd.set_rotation, lcd, 5)
    err("ili9341.rgb: bad argument #2 'g' (256 out of range 0..255)", ili9341.rgb, 0, 256, 0)
    err("ili9341.scroll_area: bad argument #2 'bottom' (300 out of range 0..220)",
        lcd.scroll_area, lcd, 100, 300)
    err("ili9341.scroll: bad argument #1 'line' (integer expected, got string)", lcd.scroll, lcd, "1")
    -- hostile sizes do not hang or allocate the world
    lcd:rect(math.mininteger + 0 == math.mininteger and -32767 or 0, -32767, 32767, 32767, 0)
    assert.are.equal(0, sim.part("lcd"):get("violations"))
  end)
end)
