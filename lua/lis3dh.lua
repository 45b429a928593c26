--- ST LIS3DH 3-axis accelerometer on SPI.
--
--   local lis3dh = require("lis3dh")
--   local a = lis3dh.new(0, 1, {range = 4, rate = 100, mode = "high"})
--   local g = a:read()   -- {x = g, y = g, z = g}
--
-- Pure Lua: a read is one burst of six bytes and a few integer
-- operations, nothing a native part would speed up. See docs/lis3dh.md.
local spi = require("spi")
local sys = require("sys")
local task = require("task")
local log = require("log")

local M = { _VERSION = "1.0" }

local REG_WHO_AM_I, REG_CTRL1, REG_STATUS, REG_OUT_X_L = 0x0F, 0x20, 0x27, 0x28
local WHO_AM_I = 0x33
local READ, MS = 0x80, 0x40
local STATUS_ZYXDA, STATUS_ZYXOR = 0x08, 0x80
local CTRL3_I1_ZYXDA, CTRL4_BDU = 0x10, 0x80

local RANGES = { [2] = 0, [4] = 1, [8] = 2, [16] = 3 }
-- Output data rate in Hz -> ODR code, and which modes may use it.
local RATES = {
  [0] = { 0 }, [1] = { 1 }, [10] = { 2 }, [25] = { 3 }, [50] = { 4 }, [100] = { 5 },
  [200] = { 6 }, [400] = { 7 }, [1600] = { 8, low = true },
  [1344] = { 9, normal = true, high = true }, [5376] = { 9, low = true },
}
-- Mode -> output bits; sensitivity in mg/digit per range (datasheet table 4).
local MODES = {
  low = { bits = 8, lpen = 1, hr = 0, sens = { [2] = 16, [4] = 32, [8] = 64, [16] = 192 } },
  normal = { bits = 10, lpen = 0, hr = 0, sens = { [2] = 4, [4] = 8, [8] = 16, [16] = 48 } },
  high = { bits = 12, lpen = 0, hr = 1, sens = { [2] = 1, [4] = 2, [8] = 4, [16] = 12 } },
}

local DEFAULTS = { range = 2, rate = 100, mode = "normal", int1 = false,
                   speed = 1000000, spi_mode = 3 }

local argcheck = require("argcheck")
local check = argcheck.for_module("lis3dh")
local fail, check_int, choices = check.fail, check.int, check.choices

local function check_opts(fn, n, opts, base)
  local cfg = check.merge(fn, n, opts, base or DEFAULTS, DEFAULTS)
  local function bad(name, expected)
    fail(3, fn, "bad option '%s' (expected %s, got %s)", name, expected,
         check.describe(cfg[name]))
  end
  if not RANGES[cfg.range] then bad("range", choices(RANGES) .. " (g)") end
  if not MODES[cfg.mode] then bad("mode", "'low', 'normal' or 'high'") end
  local rate = RATES[cfg.rate]
  if not rate then bad("rate", choices(RATES) .. " (Hz)") end
  if (rate.low or rate.normal or rate.high) and not rate[cfg.mode] then
    fail(2, fn, "bad option 'rate' (%d Hz is not available in %s mode)", cfg.rate, cfg.mode)
  end
  if type(cfg.int1) ~= "boolean" then bad("int1", "a boolean") end
  if math.type(cfg.speed) ~= "integer" or cfg.speed < 1 or cfg.speed > 10000000 then
    bad("speed", "an integer 1..10000000 Hz")
  end
  if cfg.spi_mode ~= 0 and cfg.spi_mode ~= 3 then bad("spi_mode", "0 or 3") end
  return cfg
end

local Accel = {}
Accel.__index = Accel

local function read_regs(self, reg, n)
  local ms = n > 1 and MS or 0
  return self.dev:transfer(string.char(READ | ms | reg) .. string.rep("\0", n)):sub(2)
end

-- "lis3dh on spi0.cs1: " .. message
local function msg(self, fmt, ...)
  return ("lis3dh on spi%d.cs%d: " .. fmt):format(self.bus, self.cs, ...)
end

-- The data looked wrong (all 0xFF, all 0x00, or no new sample): WHO_AM_I
-- (one cheap transfer) tells a missing or unpowered chip, CTRL_REG1..4 one
-- that was reset (a supply dip: it wakes powered down). Returns an error
-- message, or nil and true when the chip was reset, or nil when all is well.
local function check_chip(self)
  local problem = argcheck.id_problem(read_regs(self, REG_WHO_AM_I, 1):byte(), WHO_AM_I)
  if problem then return msg(self, "%s", problem) end
  if read_regs(self, REG_CTRL1, 4) ~= self.ctrl then return nil, true end
  return nil
end

--- Apply settings (options as for new, merged over the current ones).
function Accel:configure(opts)
  local cfg = check_opts("configure", 1, opts, self.cfg)
  local mode = MODES[cfg.mode]
  local ctrl1 = RATES[cfg.rate][1] << 4 | mode.lpen << 3 | 0x07 -- X, Y, Z on
  local ctrl3 = cfg.int1 and CTRL3_I1_ZYXDA or 0
  -- BDU keeps the two halves of a reading from different samples.
  local ctrl4 = CTRL4_BDU | RANGES[cfg.range] << 4 | mode.hr << 3
  -- CTRL_REG1..4 in one auto-incrementing write; CTRL_REG2 (high-pass
  -- filter) off.
  self.ctrl = string.char(ctrl1, 0, ctrl3, ctrl4)
  self.dev:transfer(string.char(MS | REG_CTRL1) .. self.ctrl)
  -- Drop a sample left from before, so data_ready and INT1 start afresh
  -- (an edge-triggered INT1 would otherwise never see a rising edge).
  read_regs(self, REG_OUT_X_L, 6)
  self.cfg = cfg
  self.shift = 1 << (16 - mode.bits)
  self.scale = mode.sens[cfg.range] / 1000
  -- Until the first sample at the new settings (turn-on time 1/ODR +
  -- 1 ms) the outputs hold stale or power-on values.
  self.period = cfg.rate > 0 and 1000 / cfg.rate or nil
  self.ready_at = cfg.rate > 0 and sys.uptime() + self.period + 1 or nil
  self.fresh_at = nil
end

local ALL_FF, ALL_00 = ("\xFF"):rep(7), ("\0"):rep(7)

-- STATUS_REG and the six output registers in one burst: the status says
-- whether the sample is new. Returns the 7 bytes, or nil and an error
-- message. A sample is returned for at most one period after it was
-- new (it is the latest the chip has); after that the read waits for the
-- next one, up to two periods, and data that never comes is an error.
local function sample(self, retried)
  local function recover()
    if retried then return nil, msg(self, "settings lost again (chip reset?)") end
    log.warn("%s", msg(self, "settings lost (chip reset?); restoring them"))
    self:configure(self.cfg)
    local wait = self.ready_at - sys.uptime()
    if wait > 0 then task.sleep(wait) end
    return sample(self, true)
  end
  local b = read_regs(self, REG_STATUS, 7)
  if b == ALL_FF or b == ALL_00 then
    local err, reset = check_chip(self)
    if err then return nil, err end
    if reset then return recover() end
  end
  if not self.period then -- power-down: the outputs hold an old sample, if any
    return nil, msg(self, "powered down (rate 0): no samples to read")
  end
  local now = sys.uptime()
  local recent = self.fresh_at and now - self.fresh_at <= self.period + 1
  if b:byte() & STATUS_ZYXDA == 0 and not recent then
    local limit = 2 * self.period + 1
    local deadline, step = now + limit, math.max(1, self.period / 10)
    repeat
      task.sleep(math.min(step, math.max(deadline - sys.uptime(), 0)))
      b = read_regs(self, REG_STATUS, 7)
    until b:byte() & STATUS_ZYXDA ~= 0 or sys.uptime() >= deadline
    if b:byte() & STATUS_ZYXDA == 0 then
      local err, reset = check_chip(self)
      if err then return nil, err end
      if reset then return recover() end
      return nil, msg(self, "no new data within %g ms at %g Hz (status 0x%02x)", limit,
                      self.cfg.rate, b:byte())
    end
  end
  if b:byte() & STATUS_ZYXDA ~= 0 then self.fresh_at = sys.uptime() end
  return b
end

local function raw(self)
  if self.ready_at then
    local wait = self.ready_at - sys.uptime()
    if wait > 0 then task.sleep(wait) end
    self.ready_at = nil
  end
  local b, err = sample(self)
  if not b then return nil, err end
  local x, y, z = string.unpack("<i2<i2<i2", b, 2)
  -- Floor division: an arithmetic shift for negative values too.
  return x // self.shift, y // self.shift, z // self.shift
end

--- Raw outputs as signed integers at the mode's resolution. The first
-- read after new/configure waits for the first sample.
function Accel:read_raw()
  local x, y, z = raw(self)
  if not x then error(y, 2) end
  return x, y, z
end

--- {x = g, y = g, z = g}
function Accel:read()
  local x, y, z = raw(self)
  if not x then error(y, 2) end
  local k = self.scale
  return { x = x * k, y = y * k, z = z * k }
end

--- New data available? Second result: an unread sample was overwritten.
function Accel:data_ready()
  local s = read_regs(self, REG_STATUS, 1):byte()
  if s == 0xFF then -- every flag set, or nobody answering
    local err = check_chip(self)
    if err then error(err, 2) end
  end
  return s & STATUS_ZYXDA ~= 0, s & STATUS_ZYXOR ~= 0
end

function Accel:__tostring()
  return ("lis3dh(bus %d, cs %d, +-%dg, %d Hz, %s)"):format(self.bus, self.cs, self.cfg.range,
                                                          self.cfg.rate, self.cfg.mode)
end

--- Open the accelerometer on `bus`, chip select `cs`; checks WHO_AM_I and
-- applies `opts`:
--   range    full scale in g: 2 (default), 4, 8, 16
--   rate     output data rate in Hz: 0 (power-down), 1, 10, 25, 50, 100
--            (default), 200, 400; 1344 (normal/high), 1600 and 5376 (low)
--   mode     "normal" (10-bit, default), "high" (12-bit), "low" (8-bit)
--   int1     true: data-ready on the INT1 pin (default false)
--   speed    SPI clock in Hz (default 1 MHz, at most 10 MHz)
--   spi_mode 3 (default) or 0
function M.new(bus, cs, opts)
  check_int("new", 1, "bus", bus, 0, spi.buses - 1)
  check_int("new", 2, "cs", cs, 0, 255)
  local cfg = check_opts("new", 3, opts)
  local self = setmetatable({ bus = bus, cs = cs }, Accel)
  self.dev = spi.setup(bus, { mode = cfg.spi_mode, speed = cfg.speed, cs = cs })
  local id = read_regs(self, REG_WHO_AM_I, 1):byte()
  if id ~= WHO_AM_I then error(msg(self, "no chip (id 0x%02x)", id), 2) end
  self.cfg = DEFAULTS
  self:configure(cfg)
  return self
end

return M
