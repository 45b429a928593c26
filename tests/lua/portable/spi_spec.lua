-- SPI through the loopback bus (bus 1): a jumper in the simulator, the
-- PL022's loopback mode on MPS2.
-- The message of the error f raises, without the "file:line: " prefix.
local function message(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

describe("spi", function()
  it("transfer echoes on the loopback bus", function()
    local dev = spi.setup(1, {cs = 0, mode = 0, speed = 1000000})
    assert.are.equal("\1\2\3hello", dev:transfer("\1\2\3hello"))
    assert.are.equal("", dev:transfer(""))
  end)

  it("transfer accepts a table of bytes and returns one", function()
    local dev = spi.setup(1, {cs = 0})
    assert.are.same({0, 127, 255}, spi.transfer(dev, {0, 127, 255}))
  end)

  it("read clocks out fill bytes; write discards", function()
    local dev = spi.setup(1, {cs = 0})
    assert.are.equal("\255\255\255", dev:read(3))
    assert.are.equal("\0\0", spi.read(dev, 2, 0))
    assert.has_no.errors(function() dev:write("abc") end)
  end)

  it("a bus number uses the device last set up on it", function()
    spi.setup(1, {cs = 0})
    assert.are.equal("xy", spi.transfer(1, "xy"))
  end)

  it("device fields describe the setup", function()
    local dev = spi.setup(1, {cs = 0, mode = 3, speed = 500000})
    assert.are.equal(1, dev.bus)
    assert.are.equal(0, dev.cs)
    assert.are.equal(3, dev.mode)
    assert.are.equal(500000, dev.speed)
  end)

  it("validates its arguments", function()
    assert.error_matches(function() spi.setup(99) end, "bad argument #1")
    assert.error_matches(function() spi.setup(1, {mode = 7}) end, "mode")
    assert.error_matches(function() spi.setup(1, {bits = 9}) end, "bits")
    assert.error_matches(function() spi.setup(1, "fast") end, "bad argument #2")
    local dev = spi.setup(1, {cs = 0})
    -- method calls number arguments after self, as Lua does
    assert.error_matches(function() dev:transfer({1, 300}) end, "element 2 is not a byte")
    assert.error_matches(function() spi.transfer(dev, {1, 300}) end, "bad argument #2")
    assert.error_matches(function() spi.read(dev, -1) end, "bad argument #2")
    assert.error_matches(function() spi.transfer("bus", "x") end, "bad argument #1")
  end)

  it("refuses unknown options and wrong types, suggesting the nearest key", function()
    assert.are.equal("bad argument #2 to 'spi.setup' (unknown option 'mdoe'; did you mean " ..
                     "'mode'?)", message(function() spi.setup(1, { mdoe = 0 }) end))
    assert.are.equal("bad argument #2 to 'spi.setup' (unknown option 'fast'; valid: mode, " ..
                     "speed, cs, bits, lsb_first)",
                     message(function() spi.setup(1, { fast = true }) end))
    assert.are.equal("bad argument #2 to 'spi.setup' (option 'speed' must be an integer, got " ..
                     "string)", message(function() spi.setup(1, { speed = "1000000" }) end))
    assert.are.equal("bad argument #2 to 'spi.setup' (option 'mode' must be an integer, got a " ..
                     "fraction)", message(function() spi.setup(1, { mode = 0.5 }) end))
    assert.are.equal("bad argument #2 to 'spi.setup' (option 'lsb_first' must be a boolean, got " ..
                     "number)", message(function() spi.setup(1, { lsb_first = 1 }) end))
    assert.are.equal("bad argument #2 to 'spi.setup' (option 'mode' out of range 0..3)",
                     message(function() spi.setup(1, { mode = 7 }) end))
    assert.are.equal("bad argument #2 to 'spi.setup' (option keys must be strings, got a number " ..
                     "key)", message(function() spi.setup(1, { 0 }) end))
    -- a whole number as a float is still a number
    assert.are.equal(1000000, spi.setup(1, { speed = 1e6 }).speed)
  end)

  it("names functions and methods as the docs do", function()
    local dev = spi.setup(1, { cs = 0 })
    assert.are.equal("bad argument #1 to 'dev:transfer' (element 2 is not a byte (0..255))",
                     message(function() dev:transfer({ 1, 300 }) end))
    assert.are.equal("bad argument #2 to 'spi.transfer' (element 2 is not a byte (0..255))",
                     message(function() spi.transfer(dev, { 1, 300 }) end))
    assert.are.equal("bad argument #2 to 'spi.read' (length must be 0..65536)",
                     message(function() spi.read(dev, -1) end))
    assert.are.equal("bad argument #1 to 'dev:read' (length must be 0..65536)",
                     message(function() dev:read(-1) end))
    assert.are.equal("bad argument #2 to 'dev:read' (fill must be a byte (0..255))",
                     message(function() dev:read(1, 256) end))
    assert.are.equal("bad argument #1 to 'dev:write' (string expected, got table)",
                     message(function() dev:write({}) end))
    assert.are.equal("bad argument #1 to 'spi.transfer' (SPI device or bus number expected, got " ..
                     "string)", message(function() spi.transfer("bus", "x") end))
    assert.matches("^bad argument #1 to 'spi.setup' %(no SPI bus 99 on this board %(%d+ buses%)%)$",
                   message(function() spi.setup(99) end))
    assert.are.equal("bad argument #2 to 'spi.setup' (table expected, got string)",
                     message(function() spi.setup(1, "fast") end))
    assert.is_nil(dev[1])
  end)
end)
