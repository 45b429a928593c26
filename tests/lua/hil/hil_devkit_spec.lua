-- The hil module on a board without adapters (the default devkit).
local hil = require("hil")

describe("hil without adapters", function()
  it("has none, and says so", function()
    assert.are.same({}, hil.adapters())
    assert.error_matches(function() hil.stats("emu://ft232h") end,
      "bad argument #1 to 'hil.stats' (no adapter 'emu://ft232h' on this board (the board has " ..
      "none))", nil, true)
    assert.error_matches(function() hil.stats(0) end,
                         "bad argument #1 to 'hil.stats' (SPI bus 0 is not on an adapter)", nil, true)
    assert.error_matches(function() hil.fault() end,
      "bad argument #1 to 'hil.fault' (adapter URL or bus number expected, got no value)", nil,
      true)
    assert.error_matches(function() hil.close(99) end, "SPI bus 99 is not on an adapter", nil, true)
  end)

  it("leaves the virtual buses and pins alone", function()
    local dev = spi.setup(0, { cs = 0 })
    assert.are.equal(0x60, dev:transfer("\xD0\0"):byte(2))
    gpio.mode("LED0", "out")
    gpio.write("LED0", 1)
    assert.are.equal(1, gpio.read("LED0"))
  end)
end)
