-- Module system: native and bundled modules, lazy globals, hot reload.
describe("modules", function()
  it("core modules are globals and require-able, the same table", function()
    assert.are.equal(require("gpio"), gpio)
    assert.are.equal(require("task"), task)
    assert.are.equal(require("sys"), sys)
  end)

  it("sys.modules lists loaded modules with their versions", function()
    local m = sys.modules()
    assert.are.equal("1.0", m.gpio)
    assert.are.equal(sys._VERSION, m.sys)
  end)

  it("reload swaps a module in place and keeps holders working", function()
    local version = 1
    package.preload["counter_mod"] = function()
      local M = {_VERSION = tostring(version), n = 0}
      function M.get() return M.n, version end
      function M.migrate(old) M.n = old.n end
      return M
    end
    local m = require("counter_mod")
    m.n = 41
    version = 2
    assert.is_true(sys.reload("counter_mod"))
    -- old references see the new code and the migrated state
    local n, v = m.get()
    assert.are.equal(41, n)
    assert.are.equal(2, v)
    assert.are.equal("2", sys.modules().counter_mod)
    package.loaded.counter_mod = nil
    package.preload.counter_mod = nil
  end)

  it("a failing new version leaves the old one running", function()
    package.preload["fragile_mod"] = function() return {ok = function() return "v1" end} end
    local m = require("fragile_mod")
    package.preload["fragile_mod"] = function() error("broken v2") end
    local ok, err = sys.reload("fragile_mod")
    assert.is_nil(ok)
    assert.truthy(err:find("broken v2", 1, true))
    assert.are.equal("v1", m.ok())
    package.preload["fragile_mod"] = function()
      return {ok = function() return "v3" end, migrate = function() error("no migration") end}
    end
    ok, err = sys.reload("fragile_mod")
    assert.is_nil(ok)
    assert.truthy(err:find("no migration", 1, true))
    assert.are.equal("v1", m.ok())
    package.loaded.fragile_mod = nil
    package.preload.fragile_mod = nil
  end)

  it("native and unknown modules cannot be reloaded", function()
    local ok, err = sys.reload("gpio")
    assert.is_nil(ok)
    assert.truthy(err:find("native", 1, true))
    ok, err = sys.reload("not_loaded_anywhere")
    assert.is_nil(ok)
    assert.truthy(err:find("not loaded", 1, true))
  end)
end)

describe("lazy modules", function()
  it("survive a strict-mode _G metatable and a cleared one", function()
    local saved = getmetatable(_G)
    local ok, err = pcall(function()
      setmetatable(_G, {
        __index = function(_, k) error("undefined global " .. tostring(k), 2) end,
        __newindex = function(_, k) error("no new global " .. tostring(k), 2) end,
      })
      assert.are.equal("A", utf8.char(65))
      assert.are.equal(2, math.floor(2.5))
      assert.are.equal("aa", string.rep("a", 2))
      assert.are.equal("function", type(gpio.write))
      assert.are.equal("function", type(timer.after))
      assert.is_false(pcall(function() return _G.undefined_global_x end))
      setmetatable(_G, nil)
      assert.are.equal("string", type(sys.version()))
      assert.are.equal("function", type(coroutine.wrap))
    end)
    setmetatable(_G, saved)
    assert(ok, err)
  end)

  it("are the same table as require gives", function()
    assert.are.equal(require("utf8"), utf8)
    assert.are.equal(require("coroutine"), coroutine)
    local g = gpio
    package.loaded.gpio = nil
    assert.are.equal(g, require("gpio"))
  end)

  it("never change the language: strings coerce, concatenate, compare", function()
    assert.are.equal(11, "10" + 1)
    assert.are.equal(-2, -"2")
    assert.are.equal("101", 10 .. 1)
    assert.are.equal(3, #"abc")
    assert.is_true("a" < "b")
    assert.are.equal("X", ("x"):upper())
    assert.are.equal(string, getmetatable("").__index)
  end)

  it("placeholder functions refuse foreign arguments", function()
    local mt = getmetatable(debug) -- nil once debug is open (busted opens it)
    if mt then
      assert.is_false(pcall(mt.__index, 1, 2))
      assert.is_false(pcall(mt.__index, {}, 2))
    end
  end)
end)

describe("bytecode policy", function()
  local dumped = string.dump(function() return 1 end)

  it("load refuses binary chunks in every mode", function()
    for _, mode in ipairs({"b", "bt", "t"}) do
      local f, err = load(dumped, "x", mode)
      assert.is_nil(f)
      assert.truthy(err:find("binary chunk refused", 1, true), err)
    end
    local f, err = load(dumped)
    assert.is_nil(f)
    assert.truthy(err:find("binary chunk refused", 1, true), err)
    local parts = {dumped:sub(1, 4), dumped:sub(5)}
    f, err = load(function() return table.remove(parts, 1) end)
    assert.is_nil(f)
    assert.truthy(err:find("binary chunk refused", 1, true), err)
  end)

  it("load still takes text, with its env argument", function()
    assert.are.equal(7, load("return 7")())
    assert.are.equal(7, load("return 7", "=x", "bt")())
    assert.are.equal(5, load("return x", "=x", "t", {x = 5})())
    local f = load("return print", "=x", "t", nil)
    assert.has_error(f)
  end)

  it("the wrappers check their arguments under their own names", function()
    -- (Lua names a function by where it finds it: 'load', or on the host
    -- maybe a library's alias such as 'busted.compatibility.loadstring';
    -- never '?')
    local cases = {
      {load, {}, "#1 to '[%w_.]*load%a*' %(function expected, got no value%)"},
      {load, {"return 1", "n", {}}, "#3 to '[%w_.]*load%a*' %(string expected, got table%)"},
      {loadfile, {{}}, "#1 to '[%w_.]*loadfile' %(string expected, got table%)"},
      {dofile, {{}}, "#1 to '[%w_.]*dofile' %(string expected, got table%)"},
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[1], table.unpack(c[2]))
      assert.is_false(ok)
      assert.truthy(err:find("bad argument " .. c[3]), err)
    end
  end)
end)

describe("debug library", function()
  it("cannot reach the C code's private state", function()
    local ch = task.channel(1)
    local t = task.spawn(function() end)
    local ok, err = pcall(debug.setmetatable, ch, getmetatable(t))
    assert.is_false(ok)
    assert.truthy(err:find("belongs to its C module", 1, true), err)
    assert.are_not.equal(getmetatable(t), getmetatable(ch))
    for _, name in ipairs({"getregistry", "getuservalue", "setuservalue"}) do
      ok, err = pcall(debug[name], ch, 5, 1)
      assert.is_false(ok)
      assert.truthy(err:find("debug." .. name .. " is not available", 1, true), err)
    end
    ok, err = pcall(debug.setupvalue, log.tag("x").info, 1, {})
    assert.is_false(ok)
    assert.truthy(err:find("upvalues of a C function are private", 1, true), err)
    ok, err = pcall(string.gsub, "abc", "%w", function() return debug.setlocal(2, 1, nil) end)
    assert.is_false(ok)
    assert.truthy(err:find("cannot change a local of a C function", 1, true), err)
    t:join()
  end)

  it("keeps its introspection and works on Lua functions", function()
    local up = 1
    local function f() return up end
    assert.are.equal("up", debug.setupvalue(f, 1, 2))
    assert.are.equal(2, f())
    local function g()
      local a = 1
      assert.are.equal("a", debug.setlocal(1, 1, 7))
      return a
    end
    assert.are.equal(7, g())
    assert.are.equal("number", type(debug.getinfo(1, "l").currentline))
    assert.are.equal("string", type(debug.traceback()))
    assert.are.equal(5, debug.setmetatable(5, nil))
  end)
end)

describe("sys", function()
  it("reports memory in use, peak and limit", function()
    local m = sys.memory()
    assert.is_true(m.used > 0)
    assert.is_true(m.peak >= m.used)
    assert.are.equal("number", type(m.limit))
  end)

  it("reports version and board", function()
    assert.truthy(sys.version():find("Lua OS", 1, true))
    assert.are.equal("string", type(sys.board()))
  end)
end)

describe("log", function()
  after_each(function() log.sink(nil); log.level("info") end)

  it("filters by level and routes to a sink", function()
    local got = {}
    log.sink(function(level, tag, msg) got[#got + 1] = {level, tag, msg} end)
    log.debug("hidden")
    log.info("shown %d", 7)
    log.level("debug")
    log.debug("now shown")
    assert.are.same({{"info", nil, "shown 7"}, {"debug", nil, "now shown"}}, got)
  end)

  it("formats any number of arguments (stack checked)", function()
    local got
    log.sink(function(_, _, msg) got = msg end)
    local t = {}
    for i = 1, 10000 do t[i] = i % 10 end
    log.info(string.rep("%s", 10000), table.unpack(t))
    assert.are.equal(10000, #got)
    assert.are.equal("1234567890", got:sub(1, 10))
    local ok, err = pcall(log.info, string.rep("%d", 10001), table.unpack(t))
    assert.is_false(ok)
    assert.truthy(err:find("no value", 1, true), err)
  end)

  it("does not depend on the global string", function()
    local got
    log.sink(function(_, _, msg) got = msg end)
    local s = string
    _G.string = nil
    local ok, err = pcall(log.info, "%d-%s", 1, "a")
    _G.string = s
    assert(ok, err)
    assert.are.equal("1-a", got)
  end)

  it("tags have their own levels", function()
    local got = {}
    log.sink(function(level, tag, msg) got[#got + 1] = level .. ":" .. tostring(tag) .. ":" .. msg end)
    local net = log.tag("net")
    net.debug("a")
    log.level("net", "debug")
    net:debug("b")
    net.warn("c")
    log.level("net", "error")
    net.warn("d")
    assert.are.same({"debug:net:b", "warn:net:c"}, got)
    assert.are.equal("error", net.level())
    log.level("net", nil)
  end)
end)
