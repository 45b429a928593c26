-- GPIO on the board's LEDs (LED0, LED1 on the simulator and on MPS2).
-- The message of the error f raises, without the "file:line: " prefix.
local function message(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

describe("gpio", function()
  it("writes and reads back an output", function()
    gpio.mode("LED0", "out")
    gpio.write("LED0", 1)
    assert.are.equal(1, gpio.read("LED0"))
    gpio.write("LED0", false)
    assert.are.equal(0, gpio.read("LED0"))
  end)

  it("toggles and returns the new level", function()
    gpio.mode("LED1", "out")
    gpio.write("LED1", 0)
    assert.are.equal(1, gpio.toggle("LED1"))
    assert.are.equal(0, gpio.toggle("LED1"))
  end)

  it("resolves names to numbers and back", function()
    local n = gpio.pin("LED0")
    assert.are.equal("LED0", gpio.name(n))
    gpio.mode(n, "out")
    gpio.write(n, 1)
    assert.are.equal(1, gpio.read("LED0"))
  end)

  it("raises errors that name the bad argument", function()
    assert.error_matches(function() gpio.write("NOPE", 1) end, "bad argument #1")
    assert.error_matches(function() gpio.write("LED0", 2) end, "bad argument #2")
    assert.error_matches(function() gpio.mode("LED0", "sideways") end, "bad argument #2")
    assert.error_matches(function() gpio.read(9999) end, "bad argument #1")
    assert.error_matches(function() gpio.on("LED0", "rising", 5) end, "bad argument #3")
  end)

  it("names functions as the docs do and suggests what was meant", function()
    assert.are.equal("bad argument #1 to 'gpio.write' (no pin named 'led0' on this board; " ..
                     "did you mean 'LED0'?)", message(function() gpio.write("led0", 1) end))
    local m = message(function() gpio.read("NOPE") end)
    local start = "bad argument #1 to 'gpio.read' (no pin named 'NOPE' on this board; valid: "
    assert.are.equal(start, m:sub(1, #start))
    assert.truthy(m:find("LED0", 1, true), m)
    assert.are.equal("bad argument #2 to 'gpio.mode' (invalid option 'output'; valid: in, out, " ..
                     "in_pullup, in_pulldown, open_drain)",
                     message(function() gpio.mode("LED0", "output") end))
    assert.are.equal("bad argument #2 to 'gpio.mode' (invalid option 'in_pulup'; did you mean " ..
                     "'in_pullup'?)", message(function() gpio.mode("LED0", "in_pulup") end))
    assert.are.equal("bad argument #2 to 'gpio.write' (level must be 0, 1, true or false)",
                     message(function() gpio.write("LED0", 2) end))
    assert.are.equal("bad argument #3 to 'gpio.on' (function expected, got number; pass the " ..
                     "function itself, not the result of calling it)",
                     message(function() gpio.on("LED0", "rising", 5) end))
    assert.are.equal("bad argument #2 to 'gpio.on' (invalid option 'up'; valid: none, rising, " ..
                     "falling, both)", message(function() gpio.on("LED0", "up", print) end))
    assert.are.equal("bad argument #1 to 'gpio.toggle' (pin number or name expected, got table)",
                     message(function() gpio.toggle({}) end))
    assert.matches("^bad argument #1 to 'gpio.read' %(no pin 9999 on this board %(0%.%.%d+%)%)$",
                   message(function() gpio.read(9999) end))
    -- the same name however the function is reached
    local write = gpio.write
    assert.are.equal("bad argument #2 to 'gpio.write' (level must be 0, 1, true or false)",
                     message(function() write("LED0", 7) end))
    assert.are.equal("bad argument #2 to 'gpio.write' (level must be 0, 1, true or false)",
                     message(gpio.write, "LED0", 7))
  end)
end)
