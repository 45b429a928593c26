--- ILI9341 240x320 TFT display over SPI, with a D/C pin on a GPIO (and
-- optionally the reset pin). Pure Lua over `spi` and `gpio`: the same code
-- runs on the simulator's model and on a board.
--
--   local ili9341 = require("ili9341")
--   local lcd = ili9341.new(0, 2, { dc = "LCD_DC", reset = "LCD_RST" })
--   lcd:fill(ili9341.BLACK)
--   lcd:text(4, 4, "Hello", ili9341.WHITE, ili9341.BLACK, 2)
--
-- Colours are RGB565 integers (ili9341.rgb(r, g, b) makes one). See
-- docs/ili9341.md.
local spi = require("spi")
local gpio = require("gpio")
local task = require("task")
local sys = require("sys")
local font = require("font5x7")
local argcheck = require("argcheck")

local M = { _VERSION = "1.0", WIDTH = 240, HEIGHT = 320 }

local check = argcheck.for_module("ili9341")
local fail, check_int = check.fail, check.int

-- Commands (datasheet section 8.2).
local SWRESET, RDID4, SLPIN, SLPOUT = 0x01, 0xD3, 0x10, 0x11
local INVOFF, INVON, DISPOFF, DISPON = 0x20, 0x21, 0x28, 0x29
local NORON, VSCRDEF, VSCRSADD = 0x13, 0x33, 0x37
local CASET, PASET, RAMWR, MADCTL, COLMOD = 0x2A, 0x2B, 0x2C, 0x36, 0x3A
-- MADCTL per rotation (0: portrait, 1: landscape, 90 degrees clockwise,
-- 2: portrait upside down, 3: landscape the other way): MY MX MV.
local ROTATION = { [0] = 0x00, 0x60, 0xC0, 0xA0 }
-- Waits of the datasheet: after a reset (5 ms before any command, 120 ms
-- before SLPOUT) and after SLPOUT/SLPIN (5 ms; 120 ms before the other).
local RESET_MS, SLEEP_OUT_MS, SLEEP_GAP_MS = 5, 5, 120
local CHUNK = 2048 -- pixels per SPI write for large areas (4 KB)

M.BLACK, M.WHITE, M.RED, M.GREEN, M.BLUE = 0x0000, 0xFFFF, 0xF800, 0x07E0, 0x001F
M.YELLOW, M.CYAN, M.MAGENTA, M.GRAY = 0xFFE0, 0x07FF, 0xF81F, 0x8410

--- RGB565 colour from 8-bit red, green and blue.
function M.rgb(r, g, b)
  check_int("rgb", 1, "r", r, 0, 255)
  check_int("rgb", 2, "g", g, 0, 255)
  check_int("rgb", 3, "b", b, 0, 255)
  return (r >> 3) << 11 | (g >> 2) << 5 | b >> 3
end

local DEFAULTS = { speed = 10000000, spi_mode = 0, rotation = 0 }
local KNOWN = { dc = true, reset = true, spi = true }
for k in pairs(DEFAULTS) do KNOWN[k] = true end

local function check_pin(fn, name, v)
  if math.type(v) ~= "integer" and type(v) ~= "string" then
    fail(3, fn, "bad option '%s' (pin number or name expected, got %s)", name,
         check.describe(v))
  end
  local ok, err = pcall(gpio.pin, v)
  if not ok then
    fail(3, fn, "bad option '%s' (%s)", name, tostring(err):match("%((.*)%)$") or err)
  end
end

local function check_opts(fn, n, opts)
  local cfg = check.merge(fn, n, opts, DEFAULTS, KNOWN)
  if cfg.dc == nil then
    fail(2, fn, "bad argument #%d 'opts' (option 'dc' is required: the D/C pin)", n)
  end
  check_pin(fn, "dc", cfg.dc)
  if cfg.reset ~= nil then check_pin(fn, "reset", cfg.reset) end
  if cfg.reset ~= nil and cfg.reset == cfg.dc then
    fail(2, fn, "bad option 'reset' (the same pin as 'dc')")
  end
  if math.type(cfg.speed) ~= "integer" or cfg.speed < 1 or cfg.speed > 10000000 then
    fail(2, fn, "bad option 'speed' (expected an integer 1..10000000 Hz, got %s)",
         check.describe(cfg.speed))
  end
  if cfg.spi_mode ~= 0 and cfg.spi_mode ~= 3 then
    fail(2, fn, "bad option 'spi_mode' (expected 0 or 3, got %s)", check.describe(cfg.spi_mode))
  end
  if not ROTATION[cfg.rotation] then
    fail(2, fn, "bad option 'rotation' (expected 0, 1, 2 or 3, got %s)",
         check.describe(cfg.rotation))
  end
  if cfg.spi ~= nil and (type(cfg.spi) ~= "userdata" and type(cfg.spi) ~= "table") then
    fail(2, fn, "bad option 'spi' (an SPI device expected, got %s)", type(cfg.spi))
  end
  if type(cfg.spi) == "table" and (type(cfg.spi.write) ~= "function"
                                   or type(cfg.spi.transfer) ~= "function") then
    fail(2, fn, "bad option 'spi' (needs write and transfer methods)")
  end
  return cfg
end

local Lcd = {}
Lcd.__index = Lcd

-- D/C low: a command byte; high: its parameters or pixels. The level is
-- remembered so a run of pixel writes costs no GPIO writes.
local function set_dc(self, level)
  if self._dc ~= level then
    gpio.write(self.dc, level)
    self._dc = level
  end
end

local function command(self, c, params)
  set_dc(self, 0)
  self.dev:write(string.char(c))
  if params then
    set_dc(self, 1)
    self.dev:write(params)
  end
end

-- Address window x0..x1, y0..y1 (inclusive, on screen), then RAMWR.
local function window(self, x0, y0, x1, y1)
  if self._x0 ~= x0 or self._x1 ~= x1 then
    command(self, CASET, string.pack(">I2I2", x0, x1))
    self._x0, self._x1 = x0, x1
  end
  if self._y0 ~= y0 or self._y1 ~= y1 then
    command(self, PASET, string.pack(">I2I2", y0, y1))
    self._y0, self._y1 = y0, y1
  end
  command(self, RAMWR)
  set_dc(self, 1)
end

-- n pixels of one colour into the open window.
local function stream(self, color, n)
  local px = string.pack(">I2", color)
  local chunk = px:rep(n < CHUNK and n or CHUNK)
  while n >= CHUNK do
    self.dev:write(chunk)
    n = n - CHUNK
  end
  if n > 0 then self.dev:write(px:rep(n)) end
end

local function check_color(fn, n, c)
  check_int(fn, n, "color", c, 0, 0xFFFF)
end

local COORD = 32767

--- Hardware reset (the reset pin) or SWRESET, then the start-up sequence:
-- 16-bit pixels, the rotation, out of sleep, display on. Waits as the
-- datasheet says (about 130 ms).
function Lcd:reset()
  self._dc, self._x0, self._x1, self._y0, self._y1 = nil, nil, nil, nil, nil
  self._scroll_top, self._scroll_rows = nil, nil
  if self.reset_pin ~= nil then
    gpio.write(self.reset_pin, 0)
    task.sleep(1) -- the pulse: >= 10 us
    gpio.write(self.reset_pin, 1)
  else
    command(self, SWRESET)
  end
  task.sleep(RESET_MS) -- before any command
  command(self, COLMOD, "\x55")
  command(self, MADCTL, string.char(ROTATION[self.rotation]))
  task.sleep(SLEEP_GAP_MS - RESET_MS) -- before SLPOUT
  command(self, SLPOUT)
  self._switched = sys.uptime()
  task.sleep(SLEEP_OUT_MS)
  command(self, DISPON)
end

--- Rotation 0..3 (0 portrait, 1 landscape; 2 and 3 turned by 180
-- degrees). Sets width and height.
function Lcd:set_rotation(r)
  check_int("set_rotation", 1, "rotation", r, 0, 3)
  self.rotation = r
  self.width = r % 2 == 0 and M.WIDTH or M.HEIGHT
  self.height = r % 2 == 0 and M.HEIGHT or M.WIDTH
  self._x0, self._x1, self._y0, self._y1 = nil, nil, nil, nil
  command(self, MADCTL, string.char(ROTATION[r]))
end

--- A filled rectangle, clipped to the screen.
function Lcd:rect(x, y, w, h, color)
  check_int("rect", 1, "x", x, -COORD, COORD)
  check_int("rect", 2, "y", y, -COORD, COORD)
  check_int("rect", 3, "w", w, 0, COORD)
  check_int("rect", 4, "h", h, 0, COORD)
  check_color("rect", 5, color)
  local x0, y0 = math.max(x, 0), math.max(y, 0)
  local x1, y1 = math.min(x + w, self.width) - 1, math.min(y + h, self.height) - 1
  if x1 < x0 or y1 < y0 then return end
  window(self, x0, y0, x1, y1)
  stream(self, color, (x1 - x0 + 1) * (y1 - y0 + 1))
end

--- The whole screen in one colour.
function Lcd:fill(color)
  check_color("fill", 1, color)
  window(self, 0, 0, self.width - 1, self.height - 1)
  stream(self, color, self.width * self.height)
end

--- One pixel (nothing if off the screen).
function Lcd:pixel(x, y, color)
  check_int("pixel", 1, "x", x, -COORD, COORD)
  check_int("pixel", 2, "y", y, -COORD, COORD)
  check_color("pixel", 3, color)
  if x < 0 or y < 0 or x >= self.width or y >= self.height then return end
  window(self, x, y, x, y)
  self.dev:write(string.pack(">I2", color))
end

--- A horizontal line of w pixels from (x, y), clipped.
function Lcd:hline(x, y, w, color)
  check_int("hline", 1, "x", x, -COORD, COORD)
  check_int("hline", 2, "y", y, -COORD, COORD)
  check_int("hline", 3, "w", w, 0, COORD)
  check_color("hline", 4, color)
  return self:rect(x, y, w, 1, color)
end

--- A vertical line of h pixels from (x, y), clipped.
function Lcd:vline(x, y, h, color)
  check_int("vline", 1, "x", x, -COORD, COORD)
  check_int("vline", 2, "y", y, -COORD, COORD)
  check_int("vline", 3, "h", h, 0, COORD)
  check_color("vline", 4, color)
  return self:rect(x, y, 1, h, color)
end

--- Copy a w x h image to (x, y): `data` is w * h pixels, row by row, two
-- bytes each, RGB565 high byte first (what the chip takes:
-- string.pack(">I2", color)). The image must lie on the screen.
function Lcd:blit(x, y, w, h, data)
  check_int("blit", 1, "x", x, 0, self.width - 1)
  check_int("blit", 2, "y", y, 0, self.height - 1)
  check_int("blit", 3, "w", w, 1, self.width - x)
  check_int("blit", 4, "h", h, 1, self.height - y)
  if type(data) ~= "string" then
    fail(1, "blit", "bad argument #5 'data' (string expected, got %s)", type(data))
  end
  if #data ~= w * h * 2 then
    fail(1, "blit", "bad argument #5 'data' (%d bytes for %dx%d pixels, expected %d)", #data,
         w, h, w * h * 2)
  end
  window(self, x, y, x + w - 1, y + h - 1)
  local step = CHUNK * 2
  for i = 1, #data, step do self.dev:write(data:sub(i, i + step - 1)) end
end

--- Text in the built-in 5x7 font, each character a 6x8 cell (a column
-- and a row of background between characters) times `scale`. Characters
-- outside ASCII 32..126 are drawn as '?'; characters that do not fit on
-- the screen entirely are left out. Returns the x after the last
-- character drawn.
function Lcd:text(x, y, s, fg, bg, scale)
  check_int("text", 1, "x", x, -COORD, COORD)
  check_int("text", 2, "y", y, -COORD, COORD)
  if type(s) ~= "string" then
    if type(s) ~= "number" then
      fail(1, "text", "bad argument #3 's' (string expected, got %s)", type(s))
    end
    s = tostring(s)
  end
  check_color("text", 4, fg)
  if bg == nil then bg = M.BLACK end
  check_int("text", 5, "bg", bg, 0, 0xFFFF)
  scale = scale or 1
  check_int("text", 6, "scale", scale, 1, 16)
  local cw, ch = 6 * scale, 8 * scale
  if y < 0 or y + ch > self.height then return x end
  -- the characters that fit
  local first = x < 0 and (-x + cw - 1) // cw or 0
  local n = math.min(#s - first, (self.width - x) // cw - first)
  if n <= 0 then return x end
  local x0 = x + first * cw
  local on, off = string.pack(">I2", fg):rep(scale), string.pack(">I2", bg):rep(scale)
  local data = font.data
  local rows = {}
  for r = 0, 7 do
    local line = {}
    for i = first + 1, first + n do
      local c = s:byte(i)
      if c < font.first or c > font.last then c = 63 end
      local base = 5 * (c - font.first)
      for col = 1, 5 do
        line[#line + 1] = r < 7 and (data:byte(base + col) >> r) & 1 == 1 and on or off
      end
      line[#line + 1] = off
    end
    rows[r + 1] = table.concat(line):rep(scale)
  end
  window(self, x0, y, x0 + n * cw - 1, y + ch - 1)
  for r = 1, 8 do self.dev:write(rows[r]) end
  return x0 + n * cw
end

--- Width in pixels of `s` drawn by text() at `scale`.
function M.text_width(s, scale)
  if type(s) ~= "string" then
    fail(1, "text_width", "bad argument #1 's' (string expected, got %s)", type(s))
  end
  scale = scale or 1
  check_int("text_width", 2, "scale", scale, 1, 16)
  return #s * 6 * scale
end

--- Vertical scrolling area, in glass rows (portrait, whatever the
-- rotation): `top` fixed rows, then the rows that scroll, then `bottom`
-- fixed rows (VSCRDEF).
function Lcd:scroll_area(top, bottom)
  check_int("scroll_area", 1, "top", top, 0, M.HEIGHT)
  check_int("scroll_area", 2, "bottom", bottom, 0, M.HEIGHT - top)
  self._scroll_top, self._scroll_rows = top, M.HEIGHT - top - bottom
  command(self, VSCRDEF, string.pack(">I2I2I2", top, self._scroll_rows, bottom))
end

--- Scroll: the scroll area shows its memory rows from `line` on (0: as
-- drawn; taken modulo the area's height), wrapping (VSCRSADD). nil ends
-- scrolling (NORON).
function Lcd:scroll(line)
  if line == nil then
    command(self, NORON)
    return
  end
  check_int("scroll", 1, "line", line, -COORD, COORD)
  local top, rows = self._scroll_top or 0, self._scroll_rows or M.HEIGHT
  if rows == 0 then return end
  command(self, VSCRSADD, string.pack(">I2", top + line % rows))
end

--- Colours inverted on the glass (INVON) or not.
function Lcd:invert(on)
  command(self, on and INVON or INVOFF)
end

--- Display on (DISPON) or off (DISPOFF); the picture stays in memory.
function Lcd:display(on)
  command(self, on and DISPON or DISPOFF)
end

--- Sleep (SLPIN) or wake (SLPOUT), keeping to the datasheet's 120 ms
-- between the two and 5 ms after either.
function Lcd:sleep(on)
  local now = sys.uptime()
  if self._switched and now - self._switched < SLEEP_GAP_MS then
    task.sleep(SLEEP_GAP_MS - (now - self._switched))
  end
  command(self, on and SLPIN or SLPOUT)
  self._switched = sys.uptime()
  task.sleep(SLEEP_OUT_MS)
end

--- The controller's id from RDID4: 0x9341 for an ILI9341 (0xFFFF: no
-- chip answers; the reading needs the MISO line).
function Lcd:read_id()
  set_dc(self, 0)
  local rx = self.dev:transfer(string.char(RDID4, 0, 0, 0, 0))
  return rx:byte(4) << 8 | rx:byte(5)
end

function Lcd:__tostring()
  return ("ili9341(bus %d, cs %d, %dx%d, rotation %d)"):format(self.bus, self.cs, self.width,
                                                              self.height, self.rotation)
end

--- Open the display on `bus`, chip select `cs`, reset it and turn it on.
--   dc        D/C pin (number or name), required
--   reset     reset pin, optional (without: SWRESET)
--   rotation  0 (default), 1, 2, 3
--   speed     SPI clock in Hz (default and at most 10 MHz, the datasheet's
--             100 ns write cycle)
--   spi_mode  0 (default) or 3
--   spi       an SPI device to use instead of spi.setup(bus, ...) (an
--             object with write(data) and transfer(data) methods)
function M.new(bus, cs, opts)
  check_int("new", 1, "bus", bus, 0, spi.buses - 1)
  check_int("new", 2, "cs", cs, 0, 255)
  local cfg = check_opts("new", 3, opts)
  local self = setmetatable({ bus = bus, cs = cs, dc = cfg.dc, reset_pin = cfg.reset }, Lcd)
  self.dev = cfg.spi or spi.setup(bus, { cs = cs, mode = cfg.spi_mode, speed = cfg.speed })
  gpio.mode(cfg.dc, "out")
  -- (an output starts low: the reset pulse begins here and reset() ends it)
  if cfg.reset ~= nil then gpio.mode(cfg.reset, "out") end
  self.rotation = cfg.rotation
  self.width = cfg.rotation % 2 == 0 and M.WIDTH or M.HEIGHT
  self.height = cfg.rotation % 2 == 0 and M.HEIGHT or M.WIDTH
  self:reset()
  return self
end

return M
