--- Bosch BME280 temperature, pressure and humidity sensor on SPI.
--
--   local bme280 = require("bme280")
--   local s = bme280.new(0, 0, {osrs_p = 4, filter = 4})
--   local r = s:read()   -- {temperature = degC, pressure = Pa, humidity = %RH}
--
-- The bus work is here; calibration parsing and the datasheet's integer
-- compensation are native (bme280.core). See docs/bme280.md.
local spi = require("spi")
local task = require("task")
local sys = require("sys")
local core = require("bme280.core")
local log = require("log")

local M = { _VERSION = "1.0" }

local REG_CALIB1, CALIB1_LEN = 0x88, 26
local REG_CALIB2, CALIB2_LEN = 0xE1, 7
local REG_ID, REG_RESET = 0xD0, 0xE0
local REG_CTRL_HUM, REG_STATUS, REG_CTRL_MEAS, REG_CONFIG = 0xF2, 0xF3, 0xF4, 0xF5
-- A read's burst: ctrl_hum, status, ctrl_meas, config, (0xF6), 8 data bytes.
local REG_BURST, BURST_LEN = REG_CTRL_HUM, 13
local CHIP_ID, RESET_CMD = 0x60, 0xB6
local STATUS_MEASURING, STATUS_IM_UPDATE = 0x08, 0x01
local STATUS_RESERVED = 0xFF & ~(STATUS_MEASURING | STATUS_IM_UPDATE) -- read as 0
local MODE_SLEEP, MODE_FORCED, MODE_NORMAL = 0, 1, 3
local SKIPPED, SKIPPED_H = 0x80000, 0x8000
-- Operating range (datasheet table 1) and a margin for the resolution
-- and noise at its edges: a value beyond is a fault, not a reading.
-- (Humidity is clamped to 0..100 by the compensation.)
local RANGE = {
  temperature = { -40, 85, 1, "degC" }, pressure = { 30000, 110000, 100, "Pa" },
  humidity = { 0, 100, 0, "%RH" },
}

-- Option value -> register code.
local OSRS = { [0] = 0, [1] = 1, [2] = 2, [4] = 3, [8] = 4, [16] = 5 }
local FILTER = { [0] = 0, [2] = 1, [4] = 2, [8] = 3, [16] = 4 }
local STANDBY = { [0.5] = 0, [62.5] = 1, [125] = 2, [250] = 3, [500] = 4, [1000] = 5,
                  [10] = 6, [20] = 7 }
local MODES = { forced = MODE_FORCED, normal = MODE_NORMAL }

local DEFAULTS = {
  mode = "forced", osrs_t = 1, osrs_p = 1, osrs_h = 1, filter = 0, standby = 1000,
  speed = 1000000, spi_mode = 0, timeout = nil,
}

-- Option names: the defaults plus `timeout`, which defaults to nil.
local KNOWN = { timeout = true }
for k in pairs(DEFAULTS) do KNOWN[k] = true end

local argcheck = require("argcheck")
local check = argcheck.for_module("bme280")
local fail, check_int, choices = check.fail, check.int, check.choices

-- Merge opts over the defaults (or over `base`), rejecting unknown names
-- and bad values.
local function check_opts(fn, n, opts, base)
  local cfg = check.merge(fn, n, opts, base or DEFAULTS, KNOWN)
  local function bad(name, expected)
    fail(3, fn, "bad option '%s' (expected %s, got %s)", name, expected,
         check.describe(cfg[name]))
  end
  if not MODES[cfg.mode] then bad("mode", "'forced' or 'normal'") end
  for _, k in ipairs({ "osrs_t", "osrs_p", "osrs_h" }) do
    if not OSRS[cfg[k]] then bad(k, choices(OSRS)) end
  end
  if cfg.osrs_t == 0 then
    fail(2, fn, "bad option 'osrs_t' (temperature cannot be skipped: the pressure and " ..
             "humidity compensation need it)")
  end
  if not FILTER[cfg.filter] then bad("filter", choices(FILTER)) end
  if not STANDBY[cfg.standby] then bad("standby", choices(STANDBY) .. " ms") end
  if math.type(cfg.speed) ~= "integer" or cfg.speed < 1 or cfg.speed > 10000000 then
    bad("speed", "an integer 1..10000000 Hz")
  end
  if cfg.spi_mode ~= 0 and cfg.spi_mode ~= 3 then bad("spi_mode", "0 or 3") end
  if cfg.timeout ~= nil and (type(cfg.timeout) ~= "number" or cfg.timeout <= 0) then
    bad("timeout", "a positive number of ms")
  end
  return cfg
end

local Sensor = {}
Sensor.__index = Sensor

-- One transaction: reading n bytes from reg (auto-increment).
local function read_regs(self, reg, n)
  return self.dev:transfer(string.char(reg | 0x80) .. string.rep("\0", n)):sub(2)
end

-- One transaction of register/value pairs (RW bit 0 on each address).
local function write_regs(self, ...)
  local bytes = table.pack(...)
  for i = 1, bytes.n, 2 do bytes[i] = bytes[i] & 0x7F end
  self.dev:transfer(string.char(table.unpack(bytes, 1, bytes.n)))
end

local function read_status(self)
  return read_regs(self, REG_STATUS, 1):byte()
end

-- "bme280 on spi0.cs0: " .. message
local function msg(self, fmt, ...)
  return ("bme280 on spi%d.cs%d: " .. fmt):format(self.bus, self.cs, ...)
end

-- The chip stopped answering sensibly: its id (one cheap transfer) tells
-- a missing or unpowered chip from one that only lost its settings.
-- Returns an error message, or nil when the id is right.
local function lost(self)
  local problem = argcheck.id_problem(read_regs(self, REG_ID, 1):byte(), CHIP_ID)
  return problem and msg(self, "%s", problem)
end

--- Soft reset; waits for the trimming values to be copied (im_update).
function Sensor:reset()
  write_regs(self, REG_RESET, RESET_CMD)
  local deadline = sys.uptime() + 20
  task.sleep(2) -- datasheet start-up time
  local status = read_status(self)
  while status & STATUS_IM_UPDATE ~= 0 do
    if sys.uptime() >= deadline then
      error(msg(self, "NVM copy still running 20 ms after reset (status 0x%02x)", status), 2)
    end
    task.sleep(1)
    status = read_status(self)
  end
end

--- Apply settings (a table of options as for new, merged over the
-- current ones). Config is written in sleep mode: in normal mode the chip
-- may ignore it.
function Sensor:configure(opts)
  local cfg = check_opts("configure", 1, opts, self.cfg)
  local meas = OSRS[cfg.osrs_t] << 5 | OSRS[cfg.osrs_p] << 2
  local config = STANDBY[cfg.standby] << 5 | FILTER[cfg.filter] << 2
  local mode = MODES[cfg.mode]
  -- ctrl_hum only takes effect with the ctrl_meas write that follows it.
  write_regs(self, REG_CTRL_MEAS, meas | MODE_SLEEP, REG_CTRL_HUM, OSRS[cfg.osrs_h],
             REG_CONFIG, config, REG_CTRL_MEAS, meas | (mode == MODE_NORMAL and mode or 0))
  self.cfg, self.ctrl_meas, self.config = cfg, meas, config
  local codes = { OSRS[cfg.osrs_t], OSRS[cfg.osrs_p], OSRS[cfg.osrs_h] }
  self.t_typ = core.measure_time(codes[1], codes[2], codes[3])
  self.t_max = core.measure_time(codes[1], codes[2], codes[3], true)
  self.timeout = cfg.timeout or (self.t_max + 50)
  if mode == MODE_NORMAL then
    task.sleep(self.t_max) -- the first conversion
  end
  self.idle_at = sys.uptime()
end

-- Wait until the status register's measuring bit clears, polling every
-- `step` ms until `deadline` (sys.uptime); `limit` is the wait the
-- message names. Returns true, or nil and an error message.
local function wait_measured(self, deadline, limit, step)
  local status = read_status(self)
  while true do
    if status & STATUS_RESERVED ~= 0 then
      return nil, lost(self) or msg(self, "bad status 0x%02x", status)
    end
    if status & STATUS_MEASURING == 0 then return true end
    if sys.uptime() >= deadline then
      return nil, msg(self, "measurement did not complete within %g ms (status 0x%02x)",
                      limit, status)
    end
    task.sleep(step)
    status = read_status(self)
  end
end

-- Run one forced conversion and wait for it: sleep the typical time, then
-- poll the measuring bit every ms, up to the timeout.
local function forced_conversion(self)
  write_regs(self, REG_CTRL_MEAS, self.ctrl_meas | MODE_FORCED)
  local deadline = sys.uptime() + self.timeout
  task.sleep(self.t_typ)
  return wait_measured(self, deadline, self.timeout, 1)
end

-- Normal mode: a conversion ends every t_measure + standby. The measuring
-- bit is set during most of that with a short standby, so a read seeing
-- it is normal; only when no idle moment was seen for two periods does
-- the read wait for one, and a conversion that never ends is an error.
-- Returns true (and true when it waited), or nil and an error message.
local function normal_check(self, status)
  local now = sys.uptime()
  if status & STATUS_MEASURING == 0 then
    self.idle_at = now
    return true
  end
  local period = self.t_max + self.cfg.standby
  if now - self.idle_at <= 2 * period then return true end
  local limit = period + self.t_max
  local ok, err = wait_measured(self, now + limit, limit, math.min(1, self.cfg.standby / 2))
  if not ok then return nil, err end
  self.idle_at = sys.uptime()
  return true, true
end

-- One reading: raw_t, raw_p, raw_h, or nil and an error message. The
-- burst also returns the settings, so a chip that went away (0xFF or
-- 0x00 everywhere) or was reset (its settings gone) is noticed here.
local function acquire(self, retried)
  if self.cfg.mode == "forced" then
    local ok, err = forced_conversion(self)
    if not ok then return nil, err end
  end
  local b = read_regs(self, REG_BURST, BURST_LEN)
  local ctrl_hum, status, ctrl_meas, config = b:byte(1, 4)
  if status & STATUS_RESERVED ~= 0 or b == ("\0"):rep(BURST_LEN) then
    return nil, lost(self) or msg(self, "bad status 0x%02x", status)
  end
  if ctrl_hum & 7 ~= OSRS[self.cfg.osrs_h] or ctrl_meas & 0xFC ~= self.ctrl_meas
     or config & 0xFD ~= self.config then
    local err = lost(self)
    if err then return nil, err end
    -- The chip answers but forgot its settings: it was reset (a supply
    -- dip). Restore them and measure again, once.
    err = msg(self, "settings lost (ctrl_meas 0x%02x, config 0x%02x; expected 0x%02x, 0x%02x)",
              ctrl_meas, config,
              self.ctrl_meas | (self.cfg.mode == "normal" and MODE_NORMAL or 0), self.config)
    if retried then return nil, err end
    log.warn("%s; restoring them", err)
    self:reset()
    self:configure(self.cfg)
    return acquire(self, true)
  end
  if self.cfg.mode == "normal" then
    local ok, waited = normal_check(self, status)
    if not ok then return nil, waited end
    if waited then b = read_regs(self, REG_BURST, BURST_LEN) end -- that conversion's result
  end
  local p1, p2, p3, t1, t2, t3, h1, h2 = b:byte(6, 13)
  local raw_t, raw_p, raw_h = t1 << 12 | t2 << 4 | t3 >> 4, p1 << 12 | p2 << 4 | p3 >> 4,
                              h1 << 8 | h2
  if raw_t == SKIPPED then
    return nil, msg(self, "no measurement yet (raw temperature 0x80000, status 0x%02x)", status)
  end
  if self.cfg.osrs_p > 0 and raw_p == SKIPPED then
    return nil, msg(self, "pressure not measured (raw 0x80000) with osrs_p = %d", self.cfg.osrs_p)
  end
  if self.cfg.osrs_h > 0 and raw_h == SKIPPED_H then
    return nil, msg(self, "humidity not measured (raw 0x8000) with osrs_h = %d", self.cfg.osrs_h)
  end
  if self.cfg.osrs_p == 0 then raw_p = SKIPPED end
  if self.cfg.osrs_h == 0 then raw_h = SKIPPED_H end
  return raw_t, raw_p, raw_h
end

--- Raw ADC values: raw_t, raw_p, raw_h (0x80000/0x8000 when skipped).
-- In forced mode this runs a conversion first.
function Sensor:read_raw()
  local raw_t, raw_p, raw_h = acquire(self)
  if not raw_t then error(raw_p, 2) end
  return raw_t, raw_p, raw_h
end

--- {temperature = degC, pressure = Pa, humidity = %RH}; a value whose
-- oversampling is 0 is absent.
function Sensor:read()
  local raw_t, raw_p, raw_h = acquire(self)
  if not raw_t then error(raw_p, 2) end
  local r = {}
  r.temperature, r.pressure, r.humidity = core.compensate(self.calib, raw_t, raw_p, raw_h)
  for _, k in ipairs({ "temperature", "pressure", "humidity" }) do
    local v, range = r[k], RANGE[k]
    if v and (v < range[1] - range[3] or v > range[2] + range[3]) then
      error(msg(self, "%s %g %s outside the sensor's range %g..%g (raw 0x%x, 0x%x, 0x%x)",
                k, v, range[4], range[1], range[2], raw_t, raw_p, raw_h), 2)
    end
  end
  return r
end

--- {measuring = bool, im_update = bool}
function Sensor:status()
  local s = read_status(self)
  if s & STATUS_RESERVED ~= 0 then error(lost(self) or msg(self, "bad status 0x%02x", s), 2) end
  return { measuring = s & STATUS_MEASURING ~= 0, im_update = s & STATUS_IM_UPDATE ~= 0 }
end

--- The trimming values (calib.dig_T1 ... calib.dig_H6).
function Sensor:calibration()
  return self.calib
end

--- Measurement time of the current settings in ms: typical, maximum.
function Sensor:measure_time()
  return self.t_typ, self.t_max
end

function Sensor:__tostring()
  return ("bme280(bus %d, cs %d, %s)"):format(self.bus, self.cs, self.cfg.mode)
end

--- Open the sensor on `bus`, chip select `cs`: checks the chip id, resets
-- it, reads the trimming values and applies `opts`:
--   mode     "forced" (default: one conversion per read) or "normal"
--   osrs_t, osrs_p, osrs_h  oversampling 1, 2, 4, 8, 16 (0 skips p or h)
--   filter   IIR coefficient 0 (off), 2, 4, 8, 16
--   standby  ms between normal-mode conversions: 0.5, 10, 20, 62.5, 125,
--            250, 500, 1000 (default)
--   speed    SPI clock in Hz (default 1 MHz, at most 10 MHz)
--   spi_mode 0 (default) or 3
--   timeout  ms to wait for a forced conversion (default: max time + 50)
function M.new(bus, cs, opts)
  check_int("new", 1, "bus", bus, 0, spi.buses - 1)
  check_int("new", 2, "cs", cs, 0, 255)
  local cfg = check_opts("new", 3, opts)
  local self = setmetatable({ bus = bus, cs = cs }, Sensor)
  self.dev = spi.setup(bus, { mode = cfg.spi_mode, speed = cfg.speed, cs = cs })
  local id = read_regs(self, REG_ID, 1):byte()
  if id ~= CHIP_ID then error(msg(self, "no chip (id 0x%02x)", id), 2) end
  self:reset()
  self.calib = core.parse_calib(read_regs(self, REG_CALIB1, CALIB1_LEN),
                                read_regs(self, REG_CALIB2, CALIB2_LEN))
  self.cfg = DEFAULTS
  self:configure(cfg)
  return self
end

return M
