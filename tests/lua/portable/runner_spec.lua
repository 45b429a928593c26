-- The spec runner's block hooks, the same under Busted (the simulator) and
-- the board's bundled runner (lua/testing/mini_busted.lua): setup once
-- before a block's first test, teardown after its last, before_each and
-- after_each around every test, outermost first.
local log = {}
local function note(what) return function() log[#log + 1] = what end end

describe("setup and teardown", function()
  setup(note("setup"))
  teardown(note("teardown"))
  before_each(note("before"))
  after_each(note("after"))

  it("runs setup once, before the first test and its before_each", function()
    assert.are.same({"setup", "before"}, log)
  end)

  describe("a nested block", function()
    setup(note("inner setup"))
    teardown(note("inner teardown"))

    it("runs its own setup when its first test comes", function()
      assert.are.same({"setup", "before", "after", "inner setup", "before"}, log)
    end)

    it("and not again", function()
      assert.are.same({"setup", "before", "after", "inner setup", "before", "after", "before"}, log)
    end)
  end)

  it("runs the nested block's teardown after its last test, not the outer one yet", function()
    assert.are.same({"setup", "before", "after", "inner setup", "before", "after", "before",
      "after", "inner teardown", "before"}, log)
  end)
end)

describe("after a block", function()
  it("its teardown has run, once", function()
    assert.are.equal("teardown", log[#log])
    local n = 0
    for _, v in ipairs(log) do if v == "teardown" or v == "setup" then n = n + 1 end end
    assert.are.equal(2, n)
  end)
end)
