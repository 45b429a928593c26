-- Deep C recursion raises an error ("C stack overflow", "stack overflow",
-- "error in error handling"), never crashes: on the host and on a board
-- with a small C stack (Lua's C-call limit is sized to the stack there).
local function raises_overflow(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  err = tostring(err)
  assert.is_truthy(err:find("stack overflow", 1, true) or err:find("error in error handling", 1, true)
    or err:find("too many C levels", 1, true), "unexpected error: " .. err)
end

describe("deep C recursion", function()
  it("gsub callbacks that call gsub", function()
    local function f() return (("x"):gsub(".", f)) end
    raises_overflow(f)
  end)

  it("coroutines resumed inside coroutines", function()
    local function c() return coroutine.wrap(c)() end
    raises_overflow(c)
    local function r() local _, e = coroutine.resume(coroutine.create(r)); error(e, 0) end
    raises_overflow(r)
  end)

  it("metamethod chains", function()
    local t = setmetatable({}, {})
    getmetatable(t).__index = function(_, k) return t[k] end
    raises_overflow(function() return t.x end)
    getmetatable(t).__concat = function(a) return a .. "x" end
    raises_overflow(function() return t .. "y" end)
    getmetatable(t).__tostring = function(v) return tostring(v) end
    raises_overflow(function() return tostring(t) end)
  end)

  it("string.format and table.concat calling back", function()
    local t = setmetatable({}, {})
    getmetatable(t).__tostring = function(v) return string.format("%s %d %5.2f", v, 1, 2.5) end
    raises_overflow(function() return string.format("%s", t) end)
    local c = setmetatable({}, {__len = function() return 1 end})
    getmetatable(c).__index = function() return table.concat(c) end
    raises_overflow(function() return table.concat(c) end)
  end)

  it("pcall, xpcall, load and table.sort nesting", function()
    local function p() local _, e = pcall(p); error(e, 0) end
    raises_overflow(p)
    local function l() local _, e = load(l); error(e, 0) end
    raises_overflow(l)
    local function s() table.sort({3, 2, 1}, function(a, b) s() return a < b end) end
    raises_overflow(s)
    -- error handlers that recurse end with "error in error handling"
    local function h() return select(2, xpcall(error, h)) end
    local ok, e = pcall(h)
    assert.is_true(ok or tostring(e):find("error in error handling", 1, true) ~= nil
      or tostring(e):find("stack overflow", 1, true) ~= nil)
  end)

  it("the parser's nesting of deeply nested code", function()
    for _, k in ipairs({{"return ", "(", "1", ")"}, {"return ", "{", "", "}"}, {"", "do ", "", " end"},
        {"return ", "function() return ", "1", " end"}, {"", "if x then ", "", " end"},
        {"return ", "- ", "1", ""}, {"return ", "'a'..", "'b'", ""}}) do
      -- In a fresh coroutine: Lua 5.4.4 passes a parser's "C stack
      -- overflow" through the running message handler (a test runner's).
      local f, err = coroutine.wrap(load)(k[1] .. k[2]:rep(1000) .. k[3] .. k[4]:rep(1000))
      assert.is_nil(f)
      assert.matches("overflow", err)
    end
  end)

  it("moderate nesting still works", function()
    local function f(d)
      if d == 0 then return "" end
      return (("x"):gsub(".", function() return f(d - 1) end))
    end
    assert.are.equal("", f(30))
    local function c(d) if d == 0 then return 0 end return coroutine.wrap(c)(d - 1) + 1 end
    assert.are.equal(30, c(30))
    assert.are.equal(1, load("return " .. ("("):rep(30) .. "1" .. (")"):rep(30))())
  end)
end)
