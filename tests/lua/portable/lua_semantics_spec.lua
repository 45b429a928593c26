-- The language behaves the same on every target: what Lua 5.4.4's own
-- test suite (its `testes` folder) showed to differ on the board, or to be
-- at risk there (a smaller stack, lazily opened libraries, a different
-- libc for number text), checked on the host and on the board.
local function err_of(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok)
  return tostring(e)
end

describe("Lua semantics", function()
  it("strings convert to numbers in arithmetic", function()
    -- Lua 5.4 does this through the string metatable: it must work
    -- whether or not the string library was opened yet.
    local ten = "10"
    assert.are.equal(11, ten + 1)
    assert.are.equal("integer", math.type(ten + 1))
    assert.are.equal(11.0, ten + 1.0)
    assert.are.equal(12, "3" * "4")
    assert.are.equal(16, "0x10" + 0)
    assert.are.equal(11, " 10 " + 1)
    assert.are.equal(10.0, "1e1" + 0)
    assert.are.equal(-2, -"2")
    assert.are.equal(3, "10" // "3")
    assert.are.equal(3, "7" % "4")
    assert.are.equal(8.0, "2" ^ "3")
    -- the string metamethods' own message (lstrlib)
    assert.matches("attempt to add a 'string' with a 'number'", err_of(function() return "abc" + 1 end))
    assert.matches("bitwise operation on a string value", err_of(function() return ten | 0 end))
    assert.matches("attempt to compare number with string", err_of(function() return 1 < ten end))
    assert.is_false(ten == 10)
    assert.are.equal("1020", 10 .. 20)
  end)

  it("integers wrap, floats follow IEEE 754, conversions are exact", function()
    assert.are.equal(math.mininteger, math.maxinteger + 1)
    assert.are.equal(math.maxinteger, math.mininteger - 1)
    assert.are.equal(math.huge, 1 // 0.0)
    assert.matches("attempt to divide by zero", err_of(function(z) return 1 // z end, 0))
    assert.matches("attempt to perform 'n%%0'", err_of(function(z) return 1 % z end, 0))
    assert.matches("no integer representation", err_of(function(x) return 3 | x end, 1.5))
    assert.are.equal(3, 3 | 1.0)
    assert.is_true(math.maxinteger < 2 ^ 63)
    assert.is_true(math.maxinteger + 0.0 == 2 ^ 63) -- rounds up
    assert.is_false(math.maxinteger == 2 ^ 63)
    assert.is_true(2 ^ 53 + 1 > 2 ^ 53 + 0.0 or 2 ^ 53 + 1 == 2 ^ 53)
    assert.are.equal(-3, -7 // 2 + 1)
    assert.are.equal(1, -7 % 2)
    assert.are.equal(-1.0, -7.0 % -2.0)
    local nan = 0 / 0
    assert.is_true(nan ~= nan)
    assert.matches("table index is NaN", err_of(function() return {[nan] = 1} end))
    assert.matches("table index is nil", err_of(function(k) local t = {}; t[k] = 1; return t end, nil))
  end)

  it("numbers print and read back the same everywhere", function()
    assert.are.equal("1e+15", tostring(1e15))
    assert.are.equal("9.2233720368548e+18", tostring(2 ^ 63))
    assert.are.equal("-0.0", tostring(-0.0))
    assert.are.equal("inf", tostring(math.huge))
    assert.are.equal("-inf", tostring(-math.huge))
    assert.are.equal("0.1", string.format("%.14g", 0.1))
    assert.are.equal("0x8000000000000000", string.format("%q", math.mininteger))
    assert.are.equal("1e9999", string.format("%q", math.huge))
    assert.are.equal("(0/0)", string.format("%q", 0 / 0))
    assert.are.equal(0.1, load("return " .. string.format("%q", 0.1))())
    assert.are.equal(math.huge, tonumber("1e500"))
    assert.are.equal(1295, tonumber("zz", 36))
    assert.is_nil(tonumber("8", 8))
    assert.are.equal(16.0, tonumber("0x1p4"))
    assert.are.equal(math.maxinteger, tonumber("0x7fffffffffffffff"))
    assert.are.equal(math.mininteger, tonumber("0x8000000000000000")) -- hex wraps
    assert.are.equal("float", math.type(tonumber("9223372036854775808")))
    assert.matches("no integer representation", err_of(string.format, "%d", 3.5))
    assert.are.equal("3", string.format("%d", 3.0))
  end)

  it("table keys are normalised: 1.0 and 1 are the same key", function()
    local t = {}
    t[1.0] = "a"
    t[2 ^ 53] = "b"
    assert.are.equal("a", t[1])
    assert.are.equal("b", t[math.tointeger(2 ^ 53)])
    assert.are.equal("integer", math.type(next(t)))
  end)

  it("numeric for loops neither overflow nor run forever", function()
    local n = 0
    for _ = math.maxinteger - 1, math.maxinteger do n = n + 1 end
    assert.are.equal(2, n)
    n = 0
    for _ = math.mininteger, math.mininteger + 2, 2 do n = n + 1 end
    assert.are.equal(2, n)
    n = 0
    for _ = 1, 0 do n = n + 1 end
    assert.are.equal(0, n)
    assert.matches("'for' step is zero", err_of(function() for _ = 1, 2, 0 do end end))
    -- each iteration has its own local
    local fs = {}
    for i = 1, 3 do fs[i] = function() return i end end
    assert.are.equal(6, fs[1]() + fs[2]() + fs[3]())
  end)

  it("a runaway Lua recursion is 'stack overflow', not an out-of-memory", function()
    local function f() return 1 + f() end
    assert.matches("stack overflow", err_of(f))
    -- and the state is fine afterwards
    assert.are.equal(3, select("#", table.unpack({1, 2, 3})))
  end)

  it("many values in one call work or fail cleanly", function()
    assert.are.equal(10000, select("#", table.unpack({}, 1, 10000)))
    assert.matches("too many results", err_of(table.unpack, {}, 1, 1e8))
    assert.are.equal(5000, #{string.byte(string.rep("x", 5000), 1, -1)})
  end)

  it("to-be-closed variables close in reverse order, also on error", function()
    local log = {}
    local function closer(name)
      return setmetatable({}, {__close = function(_, e) log[#log + 1] = name .. (e and "!" or "") end})
    end
    pcall(function()
      local a <close> = closer("a") -- luacheck: no unused
      local b <close> = closer("b") -- luacheck: no unused
      error("boom")
    end)
    assert.are.same({"b!", "a!"}, log)
    local co = coroutine.create(function()
      local c <close> = closer("c") -- luacheck: no unused
      coroutine.yield()
    end)
    coroutine.resume(co)
    assert.is_true(coroutine.close(co))
    assert.are.equal("c", log[3])
    assert.matches("variable 'x' got a non%-closable value",
      err_of(load("local x <close> = 42")))
  end)

  it("metamethods: __index chains, __eq, __lt, __len, __concat, __call", function()
    local base = {greet = function() return "hi" end}
    local mid = setmetatable({}, {__index = base})
    local obj = setmetatable({}, {__index = mid})
    assert.are.equal("hi", obj.greet())
    local mt = {__eq = function() return true end, __lt = function() return true end,
                __le = function() return false end, __len = function() return 42 end,
                __concat = function() return "cat" end, __call = function(_, x) return x * 2 end}
    local x, y = setmetatable({}, mt), setmetatable({}, mt)
    assert.is_true(x == y)
    assert.is_false(x == 1) -- __eq only between tables/userdata
    assert.is_true(x < y)
    assert.is_false(x <= y)
    assert.are.equal(42, #x)
    assert.are.equal("cat", x .. "s")
    assert.are.equal("cat", 1 .. x)
    assert.are.equal(14, x(7))
  end)

  it("errors keep their values and positions", function()
    local t = {}
    local ok, e = pcall(error, t)
    assert.is_false(ok)
    assert.are.equal(t, e)
    local function lvl2() error("up", 2) end
    local _, msg = pcall(function()
      lvl2() -- this line is blamed
    end)
    assert.matches(":%d+: up$", msg)
    assert.matches("attempt to call a nil value %(global 'undefined_fn'%)",
      err_of(load("undefined_fn()")))
    assert.matches("attempt to index a nil value %(field 'nope'%)",
      err_of(load("local t = {} return t.nope.x")))
    local _, tb = xpcall(error, debug.traceback, "msg")
    assert.matches("^msg\nstack traceback:", tb)
  end)

  it("string.pack, utf8 and goto", function()
    assert.are.equal(math.mininteger, string.unpack("<i8", string.pack("<i8", math.mininteger)))
    assert.are.equal(8, #string.pack("j", 1))
    assert.are.equal("\u{48}\u{10FFFF}", utf8.char(72, 0x10FFFF))
    local n, pos = utf8.len("ab\xff")
    assert.is_nil(n)
    assert.are.equal(3, pos)
    local i = 0
    ::again::
    i = i + 1
    if i < 3 then goto again end
    assert.are.equal(3, i)
  end)

  it("coroutines: wrap re-raises with position, status and yieldable", function()
    local co = coroutine.wrap(function() error("inner") end)
    assert.matches(":%d+: inner", err_of(co))
    local c = coroutine.create(function() assert(coroutine.isyieldable()); coroutine.yield(1) end)
    assert.are.equal("suspended", coroutine.status(c))
    assert.is_true(coroutine.resume(c))
    assert.is_true(coroutine.resume(c))
    assert.are.equal("dead", coroutine.status(c))
    assert.matches("cannot resume dead coroutine", select(2, coroutine.resume(c)))
  end)

  it("a strict-mode metatable on _G keeps the libraries reachable", function()
    -- Lazily opened libraries and core modules must survive an app that
    -- sets its own metatable on _G (the usual "strict" idiom) or clears it.
    local saved = getmetatable(_G)
    local names = {"utf8", "math", "coroutine", "debug", "string", "table"}
    local ok, e = pcall(function()
      setmetatable(_G, {__index = function(_, k) error("undeclared global '" .. tostring(k) .. "'", 2) end})
      for _, name in ipairs(names) do
        assert(type(_G[name]) == "table", name .. " is lost")
      end
      assert.are.equal("H", utf8.char(72))
      assert.matches("undeclared global 'no_such_global'", err_of(function() return _G.no_such_global end))
      setmetatable(_G, nil)
      assert(type(_G.coroutine.running) == "function", "coroutine is lost without a metatable")
    end)
    setmetatable(_G, saved)
    assert(ok, e)
  end)
end)
