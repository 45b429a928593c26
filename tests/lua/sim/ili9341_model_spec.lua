-- The ILI9341 model ("lcd" on the default board: bus 0, cs 2, D/C on
-- LCD_DC, reset on LCD_RST) driven with raw SPI bytes, no driver: the
-- command set, the address window, MADCTL, the timing rules and the frame
-- buffer, checked pixel by pixel through sim.display_pixels.
local sim = require("sim")
local spi = require("spi")
local gpio = require("gpio")
local task = require("task")

local W, H = 240, 320
local dev

local function cmd(c, args)
  gpio.write("LCD_DC", 0)
  dev:write(string.char(c))
  if args then
    gpio.write("LCD_DC", 1)
    dev:write(args)
  end
end

local function u16(...)
  local t = {}
  for i, v in ipairs({ ... }) do t[i] = string.pack(">I2", v) end
  return table.concat(t)
end

local function window(x0, y0, x1, y1)
  cmd(0x2A, u16(x0, x1))
  cmd(0x2B, u16(y0, y1))
end

-- The glass pixel at (x, y) as RGB565.
local function px(x, y)
  local _, _, s = sim.display_pixels("lcd", x, y, 1, 1)
  return (string.unpack("<I2", s))
end

local function violations() return sim.part("lcd"):get("violations") end

-- Hardware reset, the datasheet's waits, 16-bit pixels, display on.
local function bring_up()
  gpio.write("LCD_RST", 0)
  task.sleep(1)
  gpio.write("LCD_RST", 1)
  task.sleep(120)
  cmd(0x11)
  task.sleep(5)
  cmd(0x3A, "\x55")
  cmd(0x29)
end

local function fill(c)
  window(0, 0, W - 1, H - 1)
  cmd(0x2C, string.rep(string.pack(">I2", c), W * H))
end

describe("ili9341 model", function()
  setup(function()
    gpio.mode("LCD_DC", "out")
    gpio.mode("LCD_RST", "out")
    gpio.write("LCD_RST", 1)
    dev = spi.setup(0, { cs = 2, mode = 0, speed = 10000000 })
  end)

  before_each(function()
    sim.fault("lcd", nil)
    bring_up()
  end)

  it("is a 240x320 glass, on after SLPOUT and DISPON", function()
    local w, h, pixels, on = sim.display_pixels("lcd")
    assert.are.equal(W, w)
    assert.are.equal(H, h)
    assert.are.equal(W * H * 2, #pixels)
    assert.is_true(on)
    cmd(0x28)
    assert.is_false(select(4, sim.display_pixels("lcd")))
    cmd(0x29)
    assert.are.equal(1, sim.part("lcd"):get("on"))
  end)

  it("writes pixels into the CASET/PASET window, row by row", function()
    fill(0x0000)
    window(10, 20, 12, 21)
    cmd(0x2C, u16(0xF800, 0x07E0, 0x001F, 0x1111, 0x2222, 0x3333, 0xAAAA))
    assert.are.equal(0x07E0, px(11, 20))
    assert.are.equal(0x001F, px(12, 20))
    assert.are.equal(0x1111, px(10, 21))
    assert.are.equal(0x3333, px(12, 21))
    -- the 7th pixel wraps to the window's start
    assert.are.equal(0xAAAA, px(10, 20))
    assert.are.equal(0x0000, px(13, 20))
    assert.are.equal(0x0000, px(9, 20))
    -- RAMWRC goes on where RAMWR stopped
    cmd(0x3C, u16(0x4444))
    assert.are.equal(0x4444, px(11, 20))
  end)

  it("a whole frame, exactly", function()
    fill(0x1234)
    local _, _, pixels = sim.display_pixels("lcd")
    assert.are.equal(string.rep("\x34\x12", W * H), pixels)
  end)

  it("MADCTL MV/MX/MY: the four rotations put logical (0, 0) in each corner", function()
    local corners = {
      [0x00] = { 0, 0 }, [0x60] = { W - 1, 0 }, [0xC0] = { W - 1, H - 1 }, [0xA0] = { 0, H - 1 },
    }
    for mad, at in pairs(corners) do
      cmd(0x36, "\0")
      fill(0)
      cmd(0x36, string.char(mad))
      window(0, 0, 1, 0)
      cmd(0x2C, u16(0xFFFF, 0x0F0F))
      assert.are.equal(0xFFFF, px(at[1], at[2]), ("MADCTL 0x%02x"):format(mad))
    end
    -- MV: the logical screen is 320 wide; column 319 exists
    cmd(0x36, "\x20")
    window(319, 0, 319, 0)
    cmd(0x2C, u16(0xBEEF))
    assert.are.equal(0xBEEF, px(0, 319))
    cmd(0x36, "\0")
  end)

  it("MADCTL BGR swaps red and blue", function()
    cmd(0x36, "\x08")
    window(0, 0, 0, 0)
    cmd(0x2C, u16(0xF800))
    assert.are.equal(0x001F, px(0, 0))
    cmd(0x36, "\0")
  end)

  it("COLMOD 18 bit: three bytes per pixel (the reset default)", function()
    cmd(0x01) -- SWRESET: COLMOD back to 0x66
    task.sleep(5)
    assert.are.equal(0x66, sim.part("lcd"):get("colmod"))
    window(5, 5, 5, 5)
    cmd(0x2C, "\xFC\x00\xFC") -- magenta, 6 bits per colour
    assert.are.equal(0xF81F, px(5, 5))
  end)

  it("INVON inverts the glass, not the memory", function()
    window(0, 0, 0, 0)
    cmd(0x2C, u16(0x00FF))
    cmd(0x21)
    assert.are.equal(0xFF00, px(0, 0))
    cmd(0x20)
    assert.are.equal(0x00FF, px(0, 0))
  end)

  it("reads the ids, the power mode, MADCTL and the frame memory", function()
    gpio.write("LCD_DC", 0)
    assert.are.equal("\255\0\0\x93\x41", dev:transfer("\xD3\0\0\0\0"))
    assert.are.equal("\255\0\0\0\0", dev:transfer("\x04\0\0\0\0"))
    assert.are.equal(0x9C, dev:transfer("\x0A\0"):byte(2)) -- booster, awake, normal, on
    cmd(0x36, "\x48")
    gpio.write("LCD_DC", 0)
    assert.are.equal(0x48, dev:transfer("\x0B\0"):byte(2))
    assert.are.equal(0x55, dev:transfer("\x0C\0"):byte(2))
    cmd(0x36, "\0")
    window(0, 0, 1, 0)
    cmd(0x2C, u16(0xF800, 0x07FF))
    gpio.write("LCD_DC", 0)
    -- dummy, then R G B of each pixel (6 bits, left aligned)
    assert.are.same({ 0xFF, 0, 0xFC, 0, 0, 0, 0xFC, 0xFC },
      { dev:transfer("\x2E\0\0\0\0\0\0\0"):byte(1, -1) })
  end)

  it("a command within 5 ms of SWRESET is ignored and counted", function()
    local v0 = violations()
    fill(0)
    cmd(0x01)
    window(0, 0, 0, 0)
    cmd(0x2C, u16(0xFFFF))
    assert.are.equal(0, px(0, 0))
    assert.are.equal(v0 + 3, violations()) -- CASET, PASET, RAMWR
  end)

  it("SLPOUT less than 120 ms after a reset is refused: the glass stays dark", function()
    local v0 = violations()
    gpio.write("LCD_RST", 0)
    task.sleep(1)
    gpio.write("LCD_RST", 1)
    task.sleep(10)
    cmd(0x11)
    cmd(0x29)
    assert.are.equal(v0 + 1, violations())
    assert.are.equal(1, sim.part("lcd"):get("sleeping"))
    assert.is_false(select(4, sim.display_pixels("lcd")))
    task.sleep(120)
    cmd(0x11)
    assert.are.equal(0, sim.part("lcd"):get("sleeping"))
  end)

  it("SLPIN within 120 ms of SLPOUT is refused", function()
    local v0 = violations()
    task.sleep(120)
    cmd(0x10)
    task.sleep(120)
    cmd(0x11)
    task.sleep(5)
    cmd(0x10) -- only 5 ms after SLPOUT
    assert.are.equal(v0 + 1, violations())
    assert.are.equal(0, sim.part("lcd"):get("sleeping"))
  end)

  it("memory keeps its pixels through SWRESET and sleep", function()
    window(3, 3, 3, 3)
    cmd(0x2C, u16(0x5555))
    cmd(0x01)
    task.sleep(5)
    assert.are.equal(0x5555, px(3, 3))
  end)

  it("a window with start > end is refused", function()
    local v0 = violations()
    window(0, 0, 0, 0)
    cmd(0x2A, u16(20, 10))
    assert.are.equal(v0 + 1, violations())
    cmd(0x2C, u16(0x7777))
    assert.are.equal(0x7777, px(0, 0))
  end)

  it("pixels outside the glass are dropped, the stream goes on", function()
    fill(0)
    window(239, 0, 240, 0) -- column 240 does not exist
    cmd(0x2C, u16(0x1111, 0x2222, 0x3333))
    assert.are.equal(0x3333, px(239, 0))
    assert.are.equal(0, px(0, 1))
  end)

  it("VSCRDEF must cover 320 rows; VSCRSADD scrolls, NORON ends it", function()
    local v0 = violations()
    cmd(0x33, u16(0, 100, 100))
    assert.are.equal(v0 + 1, violations())
    fill(0)
    window(0, 0, 0, 319)
    local col = {}
    for y = 0, 319 do col[#col + 1] = string.pack(">I2", y) end
    cmd(0x2C, table.concat(col))
    cmd(0x33, u16(0, 320, 0))
    cmd(0x37, u16(100))
    assert.are.equal(100, px(0, 0))
    assert.are.equal(99, px(0, 319))
    cmd(0x13)
    assert.are.equal(0, px(0, 0))
  end)

  it("level 2 and unknown commands are accepted and ignored with their parameters", function()
    local u0 = sim.part("lcd"):get("unknown")
    cmd(0xCF, "\x00\xC1\x30")
    cmd(0xEF, "\x03\x80\x02")
    assert.are.equal(u0 + 2, sim.part("lcd"):get("unknown"))
    window(1, 1, 1, 1)
    cmd(0x2C, u16(0x0101))
    assert.are.equal(0x0101, px(1, 1))
  end)

  it("faults: disconnected reads 0xFF, unpowered 0x00 and loses the picture", function()
    gpio.write("LCD_DC", 0)
    sim.fault("lcd", "disconnect")
    assert.are.equal("\255\255\255\255\255", dev:transfer("\xD3\0\0\0\0"))
    sim.fault("lcd", "unpowered")
    assert.are.equal("\0\0\0\0\0", dev:transfer("\xD3\0\0\0\0"))
    assert.is_false(select(4, sim.display_pixels("lcd")))
    assert.has_error(function() sim.fault("lcd", "stuck") end)
    sim.fault("lcd", nil)
    assert.are.equal(1, sim.part("lcd"):get("sleeping"))
    assert.are.equal(0, px(3, 3))
  end)

  it("describes its transactions for the SPI view (sim.spi_trace's text)", function()
    sim.spi_trace_clear()
    window(0, 0, 9, 19)
    cmd(0x2C, string.rep("\0", 200))
    cmd(0x36, "\x68")
    cmd(0x36, "\0")
    gpio.write("LCD_DC", 0)
    dev:transfer("\xD3\0\0\0\0")
    cmd(0xEF, "\1")
    local texts = {}
    for i, r in ipairs(sim.spi_trace()) do texts[i] = r.text end
    assert.are.same({ "CASET", "CASET 0..9", "PASET", "PASET 0..19", "RAMWR", "RAMWR data: 100 px",
      "MADCTL", "MADCTL 0x68 MX MV BGR", "MADCTL", "MADCTL 0x00", "RDID4 -> 00 93 41",
      "cmd 0xef", "data (ignored)" }, texts)
  end)

  it("sim.display_pixels checks its arguments", function()
    assert.has_error(function() sim.display_pixels("env") end,
      "bad argument #1 to 'sim.display_pixels' ('env' is a bme280, not a display)")
    assert.has_error(function() sim.display_pixels("nope") end)
    assert.has_error(function() sim.display_pixels("lcd", 240, 0, 1, 1) end,
      "bad argument #2 to 'sim.display_pixels' (x out of the screen)")
    assert.has_error(function() sim.display_pixels("lcd", 0, 0, 241, 1) end,
      "bad argument #4 to 'sim.display_pixels' (width out of the screen)")
    assert.has_error(function() sim.display_pixels("lcd", 0, 0, 1, 0) end)
    assert.has_error(function() sim.display_pixels("lcd", 0, 0, 1) end)
    assert.has_error(function() sim.display_pixels("lcd", 0.5, 0, 1, 1) end)
    assert.has_error(function() sim.display_pixels("lcd", math.mininteger, 0, 1, 1) end)
    local w, h, s = sim.display_pixels("lcd", 100, 200, 140, 120)
    assert.are.equal(140, w)
    assert.are.equal(120, h)
    assert.are.equal(140 * 120 * 2, #s)
  end)
end)
