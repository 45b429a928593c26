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

local M = { _VERSION = "1.0" }

local REG_CALIB1, CALIB1_LEN = 0x88, 26
local REG_CALIB2, CALIB2_LEN = 0xE1, 7
local REG_ID, REG_RESET = 0xD0, 0xE0
local REG_CTRL_HUM, REG_STATUS, REG_CTRL_MEAS, REG_CONFIG = 0xF2, 0xF3, 0xF4, 0xF5
local REG_DATA = 0xF7
local CHIP_ID, RESET_CMD = 0x60, 0xB6
local STATUS_MEASURING, STATUS_IM_UPDATE = 0x08, 0x01
local MODE_SLEEP, MODE_FORCED, MODE_NORMAL = 0, 1, 3
local SKIPPED = 0x80000

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

local check = require("argcheck").for_module("bme280")
local fail, check_int, choices = check.fail, check.int, check.choices

-- Merge opts over the defaults (or over `base`), rejecting unknown names
-- and bad values.
local function check_opts(fn, n, opts, base)
  local cfg = check.merge(fn, n, opts, base or DEFAULTS, KNOWN)
  local function bad(name, expected)
    fail(3, fn, "bad option '%s' (expected %s, got %s)", name, expected, tostring(cfg[name]))
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

--- Soft reset; waits for the trimming values to be copied (im_update).
function Sensor:reset()
  write_regs(self, REG_RESET, RESET_CMD)
  local deadline = sys.uptime() + 20
  task.sleep(2) -- datasheet start-up time
  local status = read_status(self)
  while status & STATUS_IM_UPDATE ~= 0 do
    if sys.uptime() >= deadline then
      error(("bme280: NVM copy still running 20 ms after reset on bus %d cs %d (status 0x%02x)")
            :format(self.bus, self.cs, status), 2)
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
  self.cfg, self.ctrl_meas = cfg, meas
  local codes = { OSRS[cfg.osrs_t], OSRS[cfg.osrs_p], OSRS[cfg.osrs_h] }
  self.t_typ = core.measure_time(codes[1], codes[2], codes[3])
  self.t_max = core.measure_time(codes[1], codes[2], codes[3], true)
  self.timeout = cfg.timeout or (self.t_max + 50)
  if mode == MODE_NORMAL then
    task.sleep(self.t_max) -- the first conversion
  end
end

-- Run one forced conversion and wait for it: sleep the typical time, then
-- poll the measuring bit. Returns nil and a message on timeout.
local function forced_conversion(self)
  write_regs(self, REG_CTRL_MEAS, self.ctrl_meas | MODE_FORCED)
  local deadline = sys.uptime() + self.timeout
  task.sleep(self.t_typ)
  local status = read_status(self)
  while status & STATUS_MEASURING ~= 0 do
    if sys.uptime() >= deadline then
      return nil, ("bme280: measurement timed out after %g ms on bus %d cs %d (status 0x%02x)")
                  :format(self.timeout, self.bus, self.cs, status)
    end
    task.sleep(1)
    status = read_status(self)
  end
  return true
end

local function raw(self)
  if self.cfg.mode == "forced" then
    local ok, err = forced_conversion(self)
    if not ok then error(err, 3) end
  end
  local p1, p2, p3, t1, t2, t3, h1, h2 = read_regs(self, REG_DATA, 8):byte(1, 8)
  return t1 << 12 | t2 << 4 | t3 >> 4, p1 << 12 | p2 << 4 | p3 >> 4, h1 << 8 | h2
end

--- Raw ADC values: raw_t, raw_p, raw_h (0x80000/0x8000 when skipped).
-- In forced mode this runs a conversion first.
function Sensor:read_raw()
  return raw(self)
end

--- {temperature = degC, pressure = Pa, humidity = %RH}; a value whose
-- oversampling is 0 is absent.
function Sensor:read()
  local raw_t, raw_p, raw_h = raw(self)
  if raw_t == SKIPPED then
    error(("bme280: no measurement yet on bus %d cs %d (status 0x%02x)")
          :format(self.bus, self.cs, read_status(self)), 2)
  end
  local t, p, h = core.compensate(self.calib, raw_t, raw_p, raw_h)
  return { temperature = t, pressure = p, humidity = h }
end

--- {measuring = bool, im_update = bool}
function Sensor:status()
  local s = read_status(self)
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
  if id ~= CHIP_ID then
    error(("bme280: no chip on bus %d cs %d (id 0x%02x)"):format(bus, cs, id), 2)
  end
  self:reset()
  self.calib = core.parse_calib(read_regs(self, REG_CALIB1, CALIB1_LEN),
                                read_regs(self, REG_CALIB2, CALIB2_LEN))
  self.cfg = DEFAULTS
  self:configure(cfg)
  return self
end

return M
