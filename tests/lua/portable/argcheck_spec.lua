-- argcheck: errors name module, function and argument, and blame the
-- caller of the public function.
local check = require("argcheck").for_module("demo")

local M = {}
local DEFAULTS = { rate = 10, mode = "a" }
local function check_opts(fn, n, opts)
  local cfg = check.merge(fn, n, opts, DEFAULTS, DEFAULTS)
  if cfg.mode ~= "a" and cfg.mode ~= "b" then
    check.fail(2, fn, "bad option 'mode' (expected %s)", check.choices({ a = 1, b = 2 }))
  end
  return cfg
end
function M.open(bus, opts)
  check.int("open", 1, "bus", bus, 0, 3)
  return check_opts("open", 2, opts)
end

describe("argcheck", function()
  it("accepts good arguments and merges options over defaults", function()
    local cfg = M.open(2, { rate = 50 })
    assert.are.equal(50, cfg.rate)
    assert.are.equal("a", cfg.mode)
    assert.are.equal(10, M.open(0).rate)
    assert.are.equal(10, DEFAULTS.rate) -- defaults untouched
  end)

  it("names the module, function and argument", function()
    assert.error_matches(function() M.open("x") end,
      "demo.open: bad argument #1 'bus' %(integer expected, got string%)")
    assert.error_matches(function() M.open(1.5) end, "integer expected, got float")
    assert.error_matches(function() M.open(9) end, "%(9 out of range 0..3%)")
    assert.error_matches(function() M.open(1, 5) end, "bad argument #2 'opts' %(table expected, got number%)")
    assert.error_matches(function() M.open(1, { speed = 1 }) end, "unknown option 'speed'")
    assert.error_matches(function() M.open(1, { mode = "z" }) end, "bad option 'mode' %(expected a, b%)")
  end)

  it("blames the caller's line, not the module's", function()
    local ok, err = pcall(function() M.open(-1) end) -- this line
    assert.is_false(ok)
    local line = debug.getinfo(1, "l").currentline - 2
    assert.truthy(err:find(":" .. line .. ":", 1, true), err)
  end)

  it("suggests the nearest option and checks option types", function()
    assert.error_matches(function() M.open(1, { raet = 1 }) end,
      "demo.open: bad argument #2 'opts' (unknown option 'raet'; did you mean 'rate'?)", nil, true)
    assert.error_matches(function() M.open(1, { speed = 1 }) end,
      "unknown option 'speed'; valid: mode, rate)", nil, true)
    assert.error_matches(function() M.open(1, { rate = "10" }) end,
      "demo.open: bad option 'rate' (number expected, got string '10')", nil, true)
    assert.error_matches(function() M.open(1, { mode = true }) end,
      "bad option 'mode' (string expected, got boolean true)", nil, true)
    assert.error_matches(function() M.open(1, { [true] = 1 }) end,
      "option keys must be strings, got a boolean key", nil, true)
  end)

  it("nearest and hint follow the C rule (luaos_nearest)", function()
    local argcheck = require("argcheck")
    local modes = { "in", "out", "in_pullup", "open_drain" }
    assert.are.equal("out", argcheck.nearest("otu", modes)) -- a swap is one edit
    assert.are.equal("out", argcheck.nearest("OUT", modes)) -- case ignored
    assert.are.equal("in_pullup", argcheck.nearest("in_pulup", modes))
    assert.is_nil(argcheck.nearest("output", modes)) -- 3 edits from "out": no guess
    assert.are.equal("; did you mean 'out'?", argcheck.hint("ot", modes))
    assert.are.equal("; valid: in, out, in_pullup, open_drain", argcheck.hint("zzz", modes))
    assert.are.equal("'4'", check.describe("4"))
    assert.are.equal("4", check.describe(4))
    assert.are.equal("table", check.describe({}))
  end)

  it("lists choices numbers first, sorted", function()
    assert.are.equal("1, 2, 10, a, b", check.choices({ b = 1, [10] = 1, a = 1, [2] = 1, [1] = 1 }))
  end)

  it("tells what a chip id read back means", function()
    local id_problem = require("argcheck").id_problem
    assert.is_nil(id_problem(0x60, 0x60))
    assert.are.equal("no response (data 0xFF...; chip disconnected or bus floating?)",
      id_problem(0xFF, 0x60))
    assert.are.equal("no response (data 0x00...; chip unpowered?)", id_problem(0, 0x60))
    assert.are.equal("no response (id 0x58, expected 0x60)", id_problem(0x58, 0x60))
  end)
end)
