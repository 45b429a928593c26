-- testing.app: running an app file from a spec.
local app = require("testing.app")

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local function write(name, text)
  local path = os.tmpname() .. "-" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("testing.app", function()
  it("runs the file as a task with its arguments in ... and arg", function()
    local path = write("args.lua", "local a, b = ...\nreturn a, b, arg[0], arg[1], arg[2], #arg\n")
    local t = app.run(path, {args = {"one", "two"}})
    assert.are.same({true, "one", "two", path, "one", "two", 2}, {t:join()})
    os.remove(path)
  end)

  it("returns at once: the app runs while the spec sleeps, in virtual time", function()
    local path = write("ticks.lua",
      "local n = 0\nwhile true do n = n + 1; _G.app_ticks = n; task.sleep(100) end\n")
    local t0 = sys.uptime()
    local t = app.run(path)
    assert.are.equal("ready", t:status())
    task.sleep(1050)
    assert.are.equal(11, _G.app_ticks)
    assert.are.equal(t0 + 1050, sys.uptime())
    t:cancel()
    assert.are.equal("dead", t:status())
    _G.app_ticks = nil
    os.remove(path)
  end)

  it("for = ms cancels the app then", function()
    local path = write("forever.lua", "while true do task.sleep(10) end\n")
    local t = app.run(path, {["for"] = 500})
    assert.are.same({nil, "timeout"}, {t:join(499)})
    assert.are.same({nil, "cancelled"}, {t:join()})
    os.remove(path)
  end)

  it("loads text only: a binary chunk is refused", function()
    local path = write("bin.lua", string.dump(function() return 1 end))
    local ok, err = pcall(app.run, path)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("binary chunk", 1, true), err)
    os.remove(path)
  end)

  it("reports a missing file or a syntax error as the caller's error", function()
    assert.error_matches(function() app.run(dir .. "no_such_app.lua") end, "cannot open .*no_such_app.lua")
    local path = write("syntax.lua", "this is not lua\n")
    assert.error_matches(function() app.run(path) end, "syntax.lua:1:")
    os.remove(path)
  end)

  it("checks its arguments", function()
    assert.has_error(function() app.run(42) end,
      "bad argument #1 to 'app.run' (string expected, got number)")
    assert.has_error(function() app.run("x.lua", 5) end,
      "bad argument #2 to 'app.run' (table expected, got number)")
    assert.has_error(function() app.run("x.lua", {fro = 10}) end,
      "bad argument #2 to 'app.run' (unknown option 'fro'; valid: args, for)")
    assert.has_error(function() app.run("x.lua", {["for"] = -1}) end,
      "bad argument #2 to 'app.run' (option 'for' must be a non-negative number of ms)")
    assert.has_error(function() app.run("x.lua", {args = "a"}) end,
      "bad argument #2 to 'app.run' (option 'args' must be a table, got string)")
  end)
end)
