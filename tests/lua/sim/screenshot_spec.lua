-- sim.screenshot(path): a PNG of the window as it is now, drawn by the
-- window's renderer offscreen (docs/simulator.md); also in `luaos test`,
-- which has no window.
local sim = require("sim")
local gpio = require("gpio")

local function png_size(path)
  local f = assert(io.open(path, "rb"))
  local head = f:read(24)
  f:close()
  assert.are.equal("\137PNG\r\n\26\n", head:sub(1, 8))
  assert.are.equal("IHDR", head:sub(13, 16))
  return string.unpack(">I4I4", head, 17)
end

describe("sim.screenshot", function()
  local path = os.tmpname() .. ".png"
  teardown(function() os.remove(path) end)

  it("writes a PNG of the window's default size", function()
    gpio.mode("LED0", "out")
    gpio.write("LED0", 1)
    local ok, err = pcall(sim.screenshot, path)
    if not ok and tostring(err):find("built without the window") then
      pending("this luaos has no window")
      return
    end
    assert.is_true(ok, err)
    local w, h = png_size(path)
    assert.are.equal(1000, w)
    assert.are.equal(700, h)
  end)

  it("checks its argument", function()
    assert.has_error(function() sim.screenshot() end)
    assert.has_error(function() sim.screenshot({}) end)
    assert.error_matches(function() sim.screenshot("shot.jpg") end, "ending in .png")
    assert.error_matches(function() sim.screenshot("a\0b.png") end, "ending in .png")
    assert.error_matches(function() sim.screenshot(".png") end, "ending in .png")
  end)

  it("reports a file it cannot write", function()
    local ok, err = pcall(sim.screenshot, "/nonexistent/folder/x.png")
    assert.is_false(ok)
    assert.matches("cannot write /nonexistent/folder/x.png", err, 1, true)
  end)
end)
