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
